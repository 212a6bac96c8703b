-- A visit's stored record (the hospital system's document: a discharge's diagnosis, the
-- patient's details, the doctor...) is stored sealed (shared/hospital_shared/field_crypto.py):
-- `record` becomes text, `enc1:<key id>:...` once sealed, its JSON as it was until the re-seal
-- job reaches it (the store reads both). What SQL needs of the record leaves it for plain
-- columns of its own: the patient's name for the staff's search (not sealed yet: a search by
-- its beginning needs it readable) and the appointment time for retention. The rest is read
-- only by the code, which the store hands the opened record. The patient id stays in
-- `patient_id` (a merge moves that column; the store puts it back into the record).
DROP INDEX visits_patient_name;
DROP INDEX visits_patient_given_name;
ALTER TABLE visits
    ADD COLUMN patient_name text,
    ADD COLUMN appointment_at timestamptz;
UPDATE visits SET patient_name = record #>> '{patient,name}',
                  appointment_at = (record ->> 'appointment_at')::timestamptz;
ALTER TABLE visits ALTER COLUMN record TYPE text USING record::text;
CREATE INDEX visits_patient_name ON visits (patient_name text_pattern_ops);
CREATE INDEX visits_patient_given_name ON visits ((substr(patient_name, 2)) text_pattern_ops);
