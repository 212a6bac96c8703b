-- Who we can reach: patients as the hospital systems last described them.
CREATE TABLE patients (
    patient_id       text        PRIMARY KEY,
    phone            text,
    sms_opt_out      boolean     NOT NULL DEFAULT false,   -- the HIS flag, as last reported
    deceased         boolean     NOT NULL DEFAULT false,
    deceased_ref     text,                                 -- the admission that reported it
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Staff contacts, from staff.roster.v1.
CREATE TABLE staff (
    staff_id         text        PRIMARY KEY,
    name             text,
    department_code  text,
    role             text,
    phone            text,
    email            text,
    active           boolean     NOT NULL DEFAULT true,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_supervisors ON staff (department_code) WHERE role = 'supervisor' AND active;

-- Opt-outs by patient (API) or by phone number (a STOP/退订 reply). Revoked, never deleted.
CREATE TABLE opt_outs (
    id               bigserial   PRIMARY KEY,
    patient_id       text,
    phone            text,                                 -- E.164
    source           text        NOT NULL,                 -- sms_reply | api
    reason           text,
    created_by       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz,
    revoked_by       text,
    CHECK (patient_id IS NOT NULL OR phone IS NOT NULL)
);
CREATE INDEX opt_outs_patient ON opt_outs (patient_id) WHERE revoked_at IS NULL;
CREATE INDEX opt_outs_phone ON opt_outs (phone) WHERE revoked_at IS NULL;

-- Templates the hospital may edit; seeded from the defaults in code, never overwritten.
CREATE TABLE templates (
    name             text        PRIMARY KEY,
    audience         text        NOT NULL,                 -- patient | staff
    body             text        NOT NULL,
    urgent           boolean     NOT NULL DEFAULT false,   -- may go out in quiet hours
    send_to_deceased boolean     NOT NULL DEFAULT false,
    description      text,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       text
);

-- Every message, patient SMS and staff notification alike.
CREATE TABLE messages (
    id               uuid        PRIMARY KEY,
    -- one message per (source, template, recipient, channel): the exactly-once key
    idempotency_key  text        NOT NULL UNIQUE,
    source_event_id  text        NOT NULL,
    source_event_type text       NOT NULL,
    template         text        NOT NULL,
    audience         text        NOT NULL,                 -- patient | staff
    channel          text        NOT NULL,                 -- sms | inbox
    patient_id       text,
    staff_id         text,
    subject_ref      text,                                 -- registration / admission / case / task
    urgent           boolean     NOT NULL DEFAULT false,
    body             text        NOT NULL,
    encoding         text        NOT NULL,                 -- gsm7 | ucs2
    segments         int         NOT NULL,
    status           text        NOT NULL,
    status_reason    text,
    due_at           timestamptz NOT NULL,                 -- when the rule wanted it to go
    send_after       timestamptz NOT NULL,                 -- when it may go (after deferrals)
    deferred_reason  text,                                 -- quiet_hours | daily_cap | gateway_retry
    expires_at       timestamptz,
    attempts         int         NOT NULL DEFAULT 0,
    last_error       text,
    to_number        text,                                 -- E.164, resolved when sent
    provider         text,
    provider_ref     text,
    handed_at        timestamptz,                          -- given to the gateway (counts for the cap)
    sending_since    timestamptz,
    submitted_at     timestamptz,
    delivered_at     timestamptz,
    finished_at      timestamptz,
    read_at          timestamptz,                          -- inbox
    resend_of        uuid        REFERENCES messages (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (status IN ('pending', 'sending', 'submitted', 'delivered', 'failed', 'expired',
                      'withdrawn', 'suppressed'))
);
CREATE INDEX messages_due ON messages (send_after) WHERE status = 'pending';
CREATE INDEX messages_sending ON messages (sending_since) WHERE status = 'sending';
CREATE INDEX messages_awaiting_receipt ON messages (submitted_at) WHERE status = 'submitted';
CREATE INDEX messages_patient ON messages (patient_id, created_at);
CREATE INDEX messages_staff ON messages (staff_id, created_at) WHERE staff_id IS NOT NULL;
CREATE INDEX messages_subject ON messages (subject_ref) WHERE status = 'pending';
CREATE INDEX messages_handed ON messages (patient_id, handed_at) WHERE handed_at IS NOT NULL;

-- A cancellation seen before its reminder was planned still withdraws it.
CREATE TABLE withdrawn_subjects (
    subject_ref      text        PRIMARY KEY,
    reason           text        NOT NULL,
    source_event_id  text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Incoming SMS (MO), kept for the audit of opt-outs.
CREATE TABLE inbound_sms (
    id               bigserial   PRIMARY KEY,
    phone            text        NOT NULL,
    text             text        NOT NULL,
    action           text        NOT NULL,                 -- opt_out | opt_in | none
    received_at      timestamptz NOT NULL DEFAULT now()
);

-- Who did what through the API: resends, opt-out changes, template edits.
CREATE TABLE audit_log (
    id               bigserial   PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    actor_id         text,
    actor_role       text        NOT NULL,
    action           text        NOT NULL,
    target           text        NOT NULL,
    detail           jsonb       NOT NULL DEFAULT '{}'
);
