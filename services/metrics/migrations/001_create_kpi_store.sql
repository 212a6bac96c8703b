-- The KPI store. Everything here is written in the same transaction as the event's inbox
-- row, so a redelivered event changes nothing and a restart reloads the same totals.

-- Running totals of the live Prometheus counters, one row per (metric, label set).
-- `labels` is canonical JSON (sorted keys) of bounded-cardinality labels only.
CREATE TABLE counter_totals (
    metric  text   NOT NULL,
    labels  text   NOT NULL,
    value   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (metric, labels)
);

-- Per-entity facts: the cohorts the KPI report counts. Cohort rates are computed from
-- these rows (e.g. discharges in the period, reached whenever the call happened), never
-- from counters in the period.

-- One row per outpatient registration (挂号).
CREATE TABLE registrations (
    registration_id  text        PRIMARY KEY,
    event_id         text        NOT NULL,
    department       text        NOT NULL,
    channel          text        NOT NULL,
    visit_type       text        NOT NULL,
    visit_at         timestamptz NOT NULL,   -- appointment time, else registration time
    cancelled_at     timestamptz,
    no_show          boolean     NOT NULL DEFAULT false
);
CREATE INDEX registrations_visit_at ON registrations (visit_at);
CREATE INDEX registrations_event_id ON registrations (event_id);

-- One row per inpatient discharge (出院).
CREATE TABLE discharges (
    admission_id   text        PRIMARY KEY,
    event_id       text        NOT NULL,
    department     text        NOT NULL,
    disposition    text        NOT NULL,
    discharged_at  timestamptz NOT NULL,
    cancelled      boolean     NOT NULL DEFAULT false
);
CREATE INDEX discharges_discharged_at ON discharges (discharged_at);
CREATE INDEX discharges_event_id ON discharges (event_id);

-- One row per follow-up task (回访), linked to the visit that caused it by the source
-- event id (or the admission/registration id when the task carries one).
CREATE TABLE follow_up_tasks (
    task_id          text        PRIMARY KEY,
    kind             text        NOT NULL DEFAULT 'unknown',
    department       text        NOT NULL DEFAULT 'unknown',
    source_event_id  text,
    source_ref       text,
    due_at           timestamptz,
    planned_at       timestamptz,
    status           text        NOT NULL DEFAULT 'open',   -- open | done | withdrawn
    overdue          boolean     NOT NULL DEFAULT false,
    unreachable      boolean     NOT NULL DEFAULT false,
    reached_at       timestamptz,
    closed_at        timestamptz
);
CREATE INDEX follow_up_tasks_source_event ON follow_up_tasks (source_event_id);
CREATE INDEX follow_up_tasks_source_ref ON follow_up_tasks (source_ref);
CREATE INDEX follow_up_tasks_open ON follow_up_tasks (department, kind) WHERE status = 'open';

-- One row per satisfaction answer given in a follow-up call.
CREATE TABLE satisfaction_answers (
    event_id     text        PRIMARY KEY,
    task_id      text        NOT NULL,
    department   text        NOT NULL,
    kind         text        NOT NULL,
    aspect       text        NOT NULL DEFAULT 'overall',
    rating       text        NOT NULL,          -- satisfied | fairly_satisfied | dissatisfied
    answered_at  timestamptz NOT NULL
);
CREATE INDEX satisfaction_answers_answered_at ON satisfaction_answers (answered_at);
CREATE INDEX satisfaction_answers_task ON satisfaction_answers (task_id);

-- One row per complaint case (投诉), with the outcome of the time limits of its first cycle
-- (met | late | withdrawn | superseded, as the complaints service settles them).
CREATE TABLE complaint_cases (
    case_id                 text        PRIMARY KEY,
    department              text        NOT NULL DEFAULT 'unknown',
    category                text        NOT NULL DEFAULT 'other',
    channel                 text        NOT NULL DEFAULT 'unknown',
    status                  text        NOT NULL DEFAULT 'received',
    opened_at               timestamptz NOT NULL,
    opened_seen             boolean     NOT NULL DEFAULT false,
    first_response_due_at   timestamptz,
    first_response_outcome  text,
    fact_finding_due_at     timestamptz,
    fact_finding_outcome    text,
    breached_limits         text[]      NOT NULL DEFAULT '{}',
    warned_limits           text[]      NOT NULL DEFAULT '{}'
);
CREATE INDEX complaint_cases_opened_at ON complaint_cases (opened_at);
CREATE INDEX complaint_cases_open ON complaint_cases (department, category)
    WHERE status NOT IN ('closed', 'withdrawn');

-- One row per complaint-handling satisfaction answer.
CREATE TABLE complaint_satisfaction (
    event_id     text        PRIMARY KEY,
    case_id      text        NOT NULL,
    department   text        NOT NULL,
    satisfied    boolean     NOT NULL,
    answered_at  timestamptz NOT NULL
);
CREATE INDEX complaint_satisfaction_answered_at ON complaint_satisfaction (answered_at);

-- One row per SMS to a patient, with its latest delivery status.
CREATE TABLE sms_messages (
    message_id   text        PRIMARY KEY,
    template     text        NOT NULL DEFAULT 'unknown',
    department   text,
    created_at   timestamptz NOT NULL,
    status       text        NOT NULL,
    statuses     text[]      NOT NULL DEFAULT '{}'   -- every status reached, counted once each
);
CREATE INDEX sms_messages_created_at ON sms_messages (created_at);
