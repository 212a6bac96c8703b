-- Survey links of SMS invitations (survey_links.py): the token itself is never stored, only
-- its SHA-256; a link is answered once (answered_at), until expires_at.
CREATE TABLE survey_links (
    link_id               text        PRIMARY KEY,
    token_hash            bytea       NOT NULL UNIQUE,
    patient_id            text        NOT NULL,
    contact_ref           text        NOT NULL,
    contact_kind          text        NOT NULL,
    department_code       text,
    case_cycle            integer,
    source_event_id       text        NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    expires_at            timestamptz NOT NULL,
    answered_at           timestamptz,
    questionnaire_version integer
);
CREATE INDEX survey_links_patient ON survey_links (patient_id);
CREATE INDEX survey_links_expired ON survey_links (expires_at);

-- Questionnaire versions saved by operations (PUT /v1/questionnaires/{kind}); the packaged
-- files (hospital_shared/questionnaire_data) are the versions before any row. Never updated.
CREATE TABLE questionnaires (
    kind      text        NOT NULL,
    version   integer     NOT NULL CHECK (version >= 1),
    body      jsonb       NOT NULL,
    saved_by  text        NOT NULL,
    saved_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, version)
);
