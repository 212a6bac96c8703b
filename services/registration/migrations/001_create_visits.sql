-- Outpatient visits (registrations) and inpatient admissions, so that cancellations,
-- no-shows, discharges and updates find the visit they are about.
CREATE TABLE visits (
    kind          text        NOT NULL,  -- registration | admission
    visit_id      text        NOT NULL,  -- registration_id or admission_id
    patient_id    text        NOT NULL,
    status        text        NOT NULL,
    record        jsonb       NOT NULL,  -- the latest canonical payload describing the visit
    phone_usable  boolean     NOT NULL,  -- false: the phone was kept as received, flagged
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, visit_id)
);
CREATE INDEX visits_patient_id ON visits (patient_id);
CREATE INDEX visits_phone_unusable ON visits (updated_at) WHERE NOT phone_usable;

-- Cancellations and no-shows that arrived before the visit they are about: applied, in
-- arrival order, as soon as the visit arrives.
CREATE TABLE held_intakes (
    seq            bigserial   PRIMARY KEY,
    kind           text        NOT NULL,
    visit_id       text        NOT NULL,
    event_id       text        NOT NULL,
    type           text        NOT NULL,
    data           jsonb       NOT NULL,
    occurred_at    timestamptz NOT NULL,
    source         text        NOT NULL,
    correlation_id text,
    received_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, visit_id, event_id)
);

-- Ids of the CloudEvents taken in over REST: a repeated id is acknowledged, not re-published.
CREATE TABLE received_events (
    event_id    text        PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- HL7 messages durably accepted, by sender and MSH-10: a repeat is acknowledged only.
CREATE TABLE hl7_messages (
    sender       text        NOT NULL,  -- MSH-3 sending application / MSH-4 facility
    control_id   text        NOT NULL,  -- MSH-10
    message_type text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sender, control_id)
);
