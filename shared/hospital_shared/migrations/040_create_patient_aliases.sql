-- Patient ids merged into another (HL7 ADT^A40): merged id -> surviving id. Every alias
-- points at a patient that was never merged (chains are collapsed when written), so one
-- look-up maps an old id; written in the merge event's inbox transaction.
CREATE TABLE patient_aliases (
    merged_id     text        PRIMARY KEY,
    surviving_id  text        NOT NULL,
    event_id      text        NOT NULL,
    merged_at     timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patient_aliases_surviving ON patient_aliases (surviving_id);
