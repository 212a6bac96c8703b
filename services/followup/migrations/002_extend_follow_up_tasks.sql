-- Follow-up tasks grow into the full register: why a task exists (rule, source), who calls,
-- the call window, attempts, outcome, and which due/overdue transitions were published.
ALTER TABLE follow_up_tasks
    ADD COLUMN rule                     text,
    ADD COLUMN source_ref               text,
    ADD COLUMN source_time              timestamptz,
    ADD COLUMN parent_task_id           text,
    ADD COLUMN patient_name             text,
    ADD COLUMN patient_phone            text,
    ADD COLUMN department_name          text,
    ADD COLUMN sms_opt_out              boolean     NOT NULL DEFAULT false,
    ADD COLUMN not_before               timestamptz,
    ADD COLUMN roles                    text[]      NOT NULL DEFAULT '{agent,doctor}',
    ADD COLUMN assignee_id              text,
    ADD COLUMN attempts_made            integer     NOT NULL DEFAULT 0,
    ADD COLUMN max_attempts             integer     NOT NULL DEFAULT 3,
    ADD COLUMN survey_invitation        boolean     NOT NULL DEFAULT true,
    ADD COLUMN due_published_attempt    integer     NOT NULL DEFAULT 0,
    ADD COLUMN overdue_published_attempt integer    NOT NULL DEFAULT 0,
    ADD COLUMN satisfaction             text,
    ADD COLUMN score                    smallint    CHECK (score BETWEEN 1 AND 5),
    ADD COLUMN feedback                 text,
    ADD COLUMN objection                text,
    ADD COLUMN completed_by             text,
    ADD COLUMN withdrawn_reason         text,
    ADD COLUMN withdrawn_at             timestamptz,
    ADD COLUMN closed_at                timestamptz,
    ADD COLUMN updated_at               timestamptz NOT NULL DEFAULT now();

UPDATE follow_up_tasks
   SET rule = 'inpatient.every_discharge',
       source_ref = substr(task_id, 4),
       source_time = created_at,
       not_before = created_at
 WHERE rule IS NULL;

ALTER TABLE follow_up_tasks
    ALTER COLUMN rule SET NOT NULL,
    ALTER COLUMN source_ref SET NOT NULL,
    ALTER COLUMN source_time SET NOT NULL,
    ALTER COLUMN not_before SET NOT NULL,
    ADD CONSTRAINT follow_up_tasks_status_check
        CHECK (status IN ('planned', 'assigned', 'completed', 'unreachable', 'withdrawn'));

CREATE INDEX follow_up_tasks_open_due ON follow_up_tasks (due_at)
    WHERE status IN ('planned', 'assigned');
CREATE INDEX follow_up_tasks_unassigned ON follow_up_tasks (due_at) WHERE status = 'planned';
CREATE INDEX follow_up_tasks_assignee ON follow_up_tasks (assignee_id, status);
CREATE INDEX follow_up_tasks_patient ON follow_up_tasks (patient_id);
CREATE INDEX follow_up_tasks_department ON follow_up_tasks (department_code, status);
CREATE INDEX follow_up_tasks_closed ON follow_up_tasks (closed_at) WHERE closed_at IS NOT NULL;

-- Every call attempt, reached or not: the written record of the follow-up register.
CREATE TABLE call_attempts (
    task_id      text        NOT NULL REFERENCES follow_up_tasks (task_id) ON DELETE CASCADE,
    attempt_no   integer     NOT NULL,
    staff_id     text        NOT NULL,
    reached      boolean     NOT NULL,
    feedback     text,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, attempt_no)
);

-- A cancellation or no-show that arrived before (or without) its task: it keeps a late
-- or redelivered creation event from planning a call for a visit that did not happen.
CREATE TABLE withdrawals (
    task_id       text        PRIMARY KEY,
    reason        text        NOT NULL,
    event_id      text        NOT NULL,
    withdrawn_at  timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);

-- Patients who asked not to be called again.
CREATE TABLE call_opt_outs (
    patient_id   text        PRIMARY KEY,
    recorded_by  text        NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff (
    staff_id         text        PRIMARY KEY,
    name             text        NOT NULL,
    department_code  text        NOT NULL,
    role             text        NOT NULL CHECK (role IN ('agent', 'doctor', 'supervisor')),
    capacity         integer     NOT NULL CHECK (capacity >= 0),
    phone            text,
    active           boolean     NOT NULL DEFAULT true,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_department ON staff (department_code, role) WHERE active;
