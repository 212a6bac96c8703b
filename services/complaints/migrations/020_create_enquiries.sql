-- Enquiries (咨询) under first-contact responsibility (首问负责制): whoever takes one owns it
-- until it is answered, handed over with a reason, or turned into a complaint case. Each has
-- one time limit (by channel and complexity), kept on the row; the timer warns and escalates.

CREATE SEQUENCE enquiry_numbers;

CREATE TABLE enquiries (
    id                  bigserial   PRIMARY KEY,
    enquiry_number      text        NOT NULL UNIQUE,
    channel             text        NOT NULL,
    complex             boolean     NOT NULL DEFAULT false,
    question            text        NOT NULL,
    patient_id          text,
    patient_name        text,
    patient_phone       text,
    department_code     text,
    taken_by            text        NOT NULL,
    owner_id            text        NOT NULL,
    owner_department    text,
    supervisor_id       text,
    status              text        NOT NULL DEFAULT 'open'
                                    CHECK (status IN ('open', 'answered', 'converted')),
    answer              text,
    limit_name          text        NOT NULL,
    taken_at            timestamptz NOT NULL,
    warn_at             timestamptz NOT NULL,
    due_at              timestamptz NOT NULL,
    warned_at           timestamptz,
    breached_at         timestamptz,
    answered_at         timestamptz,
    answered_in_time    boolean,
    case_number         text,
    finished_at         timestamptz,           -- answered or converted: the retention clock
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX enquiries_finished ON enquiries (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX enquiries_owner ON enquiries (owner_id);
CREATE INDEX enquiries_department ON enquiries (department_code);
CREATE INDEX enquiries_owner_department ON enquiries (owner_department);
-- The timer looks only at open enquiries with an alert still owed.
CREATE INDEX enquiries_open_warn ON enquiries (warn_at)
    WHERE status = 'open' AND (warned_at IS NULL OR breached_at IS NULL);

-- Every step, in order: taken, handed over (from, to, reason), answered, converted, alerts.
-- Kept when the enquiry becomes a complaint (the case's audit points back here).
CREATE TABLE enquiry_history (
    id          bigserial   PRIMARY KEY,
    enquiry_id  bigint      NOT NULL REFERENCES enquiries (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    actor_id    text        NOT NULL,
    actor_role  text        NOT NULL,
    action      text        NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX enquiry_history_enquiry ON enquiry_history (enquiry_id, id);

-- One warning and one breach per enquiry, whatever the number of timer instances.
CREATE TABLE enquiry_alerts (
    enquiry_id  bigint      NOT NULL REFERENCES enquiries (id) ON DELETE CASCADE,
    level       text        NOT NULL CHECK (level IN ('warning', 'breach')),
    fired_at    timestamptz NOT NULL,
    CONSTRAINT enquiry_alert_once UNIQUE (enquiry_id, level)
);
