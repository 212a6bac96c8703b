-- Patients' answers by aspect (surveys.py): one row per survey answered by SMS link (survey
-- coverage counts it with the calls), and one row per answer to a question with an aspect,
-- from calls and surveys alike (registration and guidance-staff dissatisfaction).
CREATE TABLE surveys_answered (
    survey_id     text        PRIMARY KEY,
    event_id      text        NOT NULL,
    contact_ref   text        NOT NULL,   -- registration:<id> | admission:<id> | case:<number>
    contact_kind  text        NOT NULL,
    department    text        NOT NULL,
    dissatisfied  boolean     NOT NULL,
    answered_at   timestamptz NOT NULL
);
CREATE INDEX surveys_answered_contact ON surveys_answered (contact_ref);
CREATE INDEX surveys_answered_answered_at ON surveys_answered (answered_at);

CREATE TABLE aspect_answers (
    source_id    text        NOT NULL,   -- the survey id, or the completed call's event id
    question_id  text        NOT NULL,
    channel      text        NOT NULL,   -- call | sms_link
    kind         text        NOT NULL,
    department   text        NOT NULL,
    aspect       text        NOT NULL,
    rating       text        NOT NULL,   -- satisfied | fairly_satisfied | dissatisfied
    answered_at  timestamptz NOT NULL,
    PRIMARY KEY (source_id, question_id)
);
CREATE INDEX aspect_answers_answered_at ON aspect_answers (answered_at, aspect);
