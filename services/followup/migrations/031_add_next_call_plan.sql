-- The next call plan (制定下次回访计划): a task planned by an earlier call's outcome
-- (kind next_call, parent_task_id the earlier task) says why it is made and what to ask.
ALTER TABLE follow_up_tasks
    ADD COLUMN plan_reason     text,
    ADD COLUMN plan_questions  text[] NOT NULL DEFAULT '{}',
    ADD COLUMN plan_script_key text;

CREATE INDEX follow_up_tasks_parent ON follow_up_tasks (parent_task_id)
    WHERE parent_task_id IS NOT NULL;
