-- Patients reported deceased (a discharge with disposition `deceased`), by the admission that
-- reported it: no satisfaction call and no second call is planned for them any more, and the
-- report is undone when that discharge is cancelled (deaths.py). One row per patient; a
-- merge keeps the surviving id's.
CREATE TABLE deceased_patients (
    patient_id    text        PRIMARY KEY,
    admission_id  text        NOT NULL,
    reported_at   timestamptz NOT NULL
);
CREATE INDEX deceased_patients_admission ON deceased_patients (admission_id);
