-- Complaint cases (投诉), their time limits, alerts, audit trail, classification rules and
-- the staff roster the service assigns from. Confidential: only this service reads them.

-- Case numbers: one counter per hospital-local day, only ever incremented, never purged,
-- so a number is never handed out twice.
CREATE TABLE case_number_counters (
    day         date    PRIMARY KEY,
    last_number integer NOT NULL
);

CREATE TABLE cases (
    id                  bigserial   PRIMARY KEY,
    case_number         text        NOT NULL UNIQUE,
    channel             text        NOT NULL,
    external_id         text        NOT NULL,
    source_event_id     text,
    patient_id          text,
    patient_name        text,
    patient_phone       text,
    sms_opt_out         boolean     NOT NULL DEFAULT false,
    department_code     text,
    department_name     text,
    description         text        NOT NULL,
    submitted_category  text,
    category            text        NOT NULL,
    category_source     text        NOT NULL,
    matched_rule_id     bigint,
    matched_keyword     text,
    serious_rule_id     bigint,
    serious_keyword     text,
    classification      text        NOT NULL,
    serious             boolean     NOT NULL,
    complex             boolean     NOT NULL,
    priority            text        NOT NULL,
    status              text        NOT NULL,
    cycle               integer     NOT NULL DEFAULT 1,
    assignee_id         text,
    handling_department text,
    supervisor_id       text,
    resolution          text,
    resolution_kind     text,
    satisfaction        text,
    satisfaction_at     timestamptz,
    submitted_at        timestamptz NOT NULL,
    opened_at           timestamptz NOT NULL,
    closed_at           timestamptz,
    finished_at         timestamptz,           -- closed or withdrawn: the retention clock
    updated_at          timestamptz NOT NULL DEFAULT now(),
    opened_by           text        NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX cases_status ON cases (status);
CREATE INDEX cases_assignee ON cases (assignee_id);
-- Least-loaded assignment counts each candidate's open cases.
CREATE INDEX cases_open_by_assignee ON cases (assignee_id) WHERE finished_at IS NULL;
CREATE INDEX cases_department ON cases (department_code);
CREATE INDEX cases_handling_department ON cases (handling_department);
CREATE INDEX cases_supervisor ON cases (supervisor_id);
CREATE INDEX cases_patient ON cases (patient_id);
CREATE INDEX cases_finished ON cases (finished_at) WHERE finished_at IS NOT NULL;

-- The time limits of each cycle of a case (a reopened case starts a new cycle).
CREATE TABLE case_deadlines (
    case_id     bigint      NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    cycle       integer     NOT NULL,
    limit_name  text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    due_at      timestamptz NOT NULL,
    warn_at     timestamptz NOT NULL,
    settled_at  timestamptz,
    outcome     text,                          -- met | late | withdrawn | superseded
    warned_at   timestamptz,
    breached_at timestamptz,
    PRIMARY KEY (case_id, cycle, limit_name)
);
CREATE INDEX case_deadlines_open_warn ON case_deadlines (warn_at)
    WHERE settled_at IS NULL AND warned_at IS NULL;
CREATE INDEX case_deadlines_open_due ON case_deadlines (due_at)
    WHERE settled_at IS NULL AND breached_at IS NULL;

-- Warnings (80%) and breaches (100%): at most one per case, cycle, limit and level, whatever
-- the number of instances running the timer.
CREATE TABLE time_limit_alerts (
    case_id    bigint      NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    cycle      integer     NOT NULL,
    limit_name text        NOT NULL,
    level      text        NOT NULL CHECK (level IN ('warning', 'breach')),
    fired_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT time_limit_alert_once UNIQUE (case_id, cycle, limit_name, level)
);

-- The written record of every step. Append-only: UPDATE and TRUNCATE are always refused;
-- DELETE only inside the retention purge's transaction (which sets complaints.purging).
CREATE TABLE case_audit (
    id          bigserial   PRIMARY KEY,
    case_id     bigint      NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    text        NOT NULL,
    actor_role  text        NOT NULL,
    action      text        NOT NULL,
    from_status text,
    to_status   text,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX case_audit_case ON case_audit (case_id, id);

CREATE FUNCTION case_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('complaints.purging', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'case_audit is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER case_audit_no_update BEFORE UPDATE OR DELETE ON case_audit
    FOR EACH ROW EXECUTE FUNCTION case_audit_append_only();
CREATE TRIGGER case_audit_no_truncate BEFORE TRUNCATE ON case_audit
    FOR EACH STATEMENT EXECUTE FUNCTION case_audit_append_only();

-- The hospital's keyword rules for classifying complaints (seeded once, then edited by staff).
CREATE TABLE category_rules (
    id         bigserial   PRIMARY KEY,
    category   text        NOT NULL,
    keyword    text        NOT NULL,
    serious    boolean     NOT NULL DEFAULT false,
    position   integer     NOT NULL DEFAULT 100,
    enabled    boolean     NOT NULL DEFAULT true,
    note       text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text        NOT NULL DEFAULT 'seed',
    UNIQUE (category, keyword)
);

CREATE TABLE seed_markers (
    name      text        PRIMARY KEY,
    seeded_at timestamptz NOT NULL DEFAULT now()
);

-- Who can handle complaints, per department. Seeded with the development staff; kept up to
-- date from the follow-up service's roster events when they are published.
CREATE TABLE staff (
    staff_id        text        PRIMARY KEY,
    department_code text        NOT NULL,
    role            text        NOT NULL,
    active          boolean     NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    source          text        NOT NULL DEFAULT 'seed'
);
CREATE INDEX staff_department ON staff (department_code, role) WHERE active;
