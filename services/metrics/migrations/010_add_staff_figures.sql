-- Per-staff figures for the quarterly appraisal (考核周期每季度一次): one row per follow-up
-- call attempt a staff member made (reached or not, with the patient's answer), and the
-- handler of each complaint case. Written with the event's inbox row, like the rest.
CREATE TABLE staff_calls (
    event_id    text        PRIMARY KEY,
    staff_id    text        NOT NULL,
    department  text        NOT NULL,
    task_id     text        NOT NULL,
    reached     boolean     NOT NULL,
    rating      text,                       -- satisfied | fairly_satisfied | dissatisfied
    score       smallint,                   -- 1..5 when the call recorded one
    called_at   timestamptz NOT NULL
);
CREATE INDEX staff_calls_called_at ON staff_calls (called_at);

ALTER TABLE complaint_cases ADD COLUMN handler_id text;
CREATE INDEX complaint_cases_handler ON complaint_cases (handler_id, opened_at)
    WHERE handler_id IS NOT NULL;

-- The roster as staff.roster.v1 tells it: whose department a staff member's figures belong
-- to (a supervisor reads the figures of their own department's staff).
CREATE TABLE staff_members (
    staff_id    text PRIMARY KEY,
    department  text NOT NULL,
    role        text NOT NULL DEFAULT 'unknown',
    name        text
);
