-- Patients reported deceased (a discharge with disposition `deceased`), by the admission and
-- event that reported it: their calls of contacts before the death are withdrawn, whichever of
-- the death and the contact's event is read first, and a survey plans no second call for them
-- (deaths.py). Undone when that discharge is cancelled. One row per patient; a merge keeps the
-- surviving id's.
CREATE TABLE deceased_patients (
    patient_id    text        PRIMARY KEY,
    admission_id  text        NOT NULL,
    event_id      text        NOT NULL,
    reported_at   timestamptz NOT NULL
);
CREATE INDEX deceased_patients_admission ON deceased_patients (admission_id);
