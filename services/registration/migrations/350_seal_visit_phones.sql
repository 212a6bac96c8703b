-- A visit's patient phone leaves the stored record (jsonb) for a column of its own, stored
-- sealed (shared/hospital_shared/field_crypto.py) with a keyed hash beside it for the staff's
-- search by number (HMAC-SHA256 under DATA_HASH_KEY, which the database never sees), as in
-- the other services. The store puts it back into the record it hands the code. Existing
-- phones move here as they are: the re-seal job seals them and fills their hashes while the
-- service runs; until it has, the search also compares the plaintext those rows still hold.
ALTER TABLE visits ADD COLUMN patient_phone text, ADD COLUMN phone_hash text;
UPDATE visits SET patient_phone = record #>> '{patient,phone}', record = record #- '{patient,phone}'
 WHERE record #> '{patient,phone}' IS NOT NULL;
DROP INDEX visits_patient_phone;
CREATE INDEX visits_phone_hash ON visits (phone_hash) WHERE phone_hash IS NOT NULL;
CREATE INDEX visits_phone_unhashed ON visits (patient_phone) WHERE phone_hash IS NULL;
