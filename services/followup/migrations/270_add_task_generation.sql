-- A task withdrawn and planned again (a discharge cancelled by mistake, then entered again)
-- starts a new life: its attempts count from 0 again, so the events and attempts derived from
-- its id and an attempt number must name the life, or the outbox (ON CONFLICT (event_id) DO
-- NOTHING) and the consumers' inboxes drop the new life's due/overdue/retry events as repeats,
-- and its first attempt collides with the first life's in call_attempts. Existing tasks and
-- attempts are in their first life (generation 1, whose event ids keep their old form).
ALTER TABLE follow_up_tasks ADD COLUMN generation integer NOT NULL DEFAULT 1;
ALTER TABLE call_attempts ADD COLUMN generation integer NOT NULL DEFAULT 1;
ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_pkey;
ALTER TABLE call_attempts ADD PRIMARY KEY (task_id, generation, attempt_no);
