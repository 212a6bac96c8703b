-- Praise (表扬) and suggestions (建议), taken alongside complaints on every channel. Praise is
-- passed to the department of the staff member praised; a suggestion gets one answer and an
-- outcome (adopted or not).

CREATE SEQUENCE feedback_numbers;

CREATE TABLE feedback (
    id               bigserial   PRIMARY KEY,
    feedback_number  text        NOT NULL UNIQUE,
    kind             text        NOT NULL CHECK (kind IN ('praise', 'suggestion')),
    channel          text        NOT NULL,
    category         text        NOT NULL,
    text             text        NOT NULL,
    patient_id       text,
    patient_name     text,
    patient_phone    text,
    department_code  text,
    staff_id         text,
    recorded_by      text        NOT NULL,
    received_at      timestamptz NOT NULL,
    answer           text,
    outcome          text        CHECK (outcome IN ('adopted', 'not_adopted')),
    answered_by      text,
    answered_at      timestamptz,
    finished_at      timestamptz                -- praise at once, a suggestion once answered
);
CREATE INDEX feedback_finished ON feedback (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX feedback_department ON feedback (department_code);
CREATE INDEX feedback_recorded_by ON feedback (recorded_by);
CREATE INDEX feedback_received_at ON feedback (received_at);
