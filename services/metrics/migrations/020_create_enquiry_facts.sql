-- Enquiries (咨询) and praise and suggestions (表扬、建议), from the complaints service's events:
-- the cohorts of "enquiries answered in time" (by channel and department) and the feedback
-- counts of the monthly report. Written in the same transaction as the event's inbox row.

CREATE TABLE enquiries (
    enquiry_id        text        PRIMARY KEY,
    channel           text        NOT NULL,
    department        text        NOT NULL DEFAULT 'unknown',
    taken_at          timestamptz NOT NULL,
    due_at            timestamptz NOT NULL,
    status            text        NOT NULL,          -- open | answered | converted
    answered_at       timestamptz,
    answered_in_time  boolean
);
CREATE INDEX enquiries_taken_at ON enquiries (taken_at);

CREATE TABLE feedback (
    feedback_id  text        PRIMARY KEY,
    kind         text        NOT NULL,               -- praise | suggestion
    channel      text        NOT NULL,
    department   text        NOT NULL DEFAULT 'unknown',
    category     text        NOT NULL,
    received_at  timestamptz NOT NULL,
    outcome      text,                               -- suggestions: adopted | not_adopted
    answered_at  timestamptz
);
CREATE INDEX feedback_received_at ON feedback (received_at);
CREATE INDEX feedback_answered_at ON feedback (answered_at) WHERE answered_at IS NOT NULL;
