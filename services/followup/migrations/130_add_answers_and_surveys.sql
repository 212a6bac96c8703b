-- Issue 20: a call's answers per question (sealed JSON, as feedback is) and the version of
-- the questionnaire asked; a contact surveyed by SMS link (survey.answered), and whether
-- that answer was dissatisfied (a targeted second call follows, as after a call).
ALTER TABLE follow_up_tasks
    ADD COLUMN answers               text,
    ADD COLUMN questionnaire_version integer,
    ADD COLUMN surveyed_at           timestamptz,
    ADD COLUMN survey_dissatisfied   boolean;
