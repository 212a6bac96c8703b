-- The rest of the complaint procedure (issue 21): the validity decision (投诉是否成立), who
-- proposed the resolution (four eyes), escalation to the director (院长/主任), radiology's
-- confirmation of an imaging dispute, the settlement agreement (和解协议), the supervisor's
-- sign-off of the summary (总结批示), the confidentiality level (保密), and accountability
-- for the staff directly responsible (处罚直接责任者), restricted to supervisors and admins.
ALTER TABLE cases
    ADD COLUMN validity                text,          -- founded | unfounded
    ADD COLUMN validity_reason         text,
    ADD COLUMN proposed_by             text,
    ADD COLUMN director_id             text,
    ADD COLUMN escalated_at            timestamptz,
    ADD COLUMN escalation_reason       text,
    ADD COLUMN imaging_confirmed_at    timestamptz,
    ADD COLUMN imaging_confirmed_by    text,
    ADD COLUMN settlement_amount       numeric(12, 2),
    ADD COLUMN settlement_signed_on    date,
    ADD COLUMN settlement_document_ref text,
    ADD COLUMN summary                 text,
    ADD COLUMN signed_off_by           text,
    ADD COLUMN confidentiality         text NOT NULL DEFAULT 'normal'
        CHECK (confidentiality IN ('normal', 'confidential'));
CREATE INDEX cases_director ON cases (director_id) WHERE director_id IS NOT NULL;

CREATE TABLE case_accountability (
    id          bigserial   PRIMARY KEY,
    case_id     bigint      NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    staff_id    text        NOT NULL,
    measure     text        NOT NULL,
    detail      text,
    recorded_by text        NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX case_accountability_case ON case_accountability (case_id, id);
