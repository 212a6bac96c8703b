-- A STOP reply looks its number up among the patients by its keyed hash, or, for a row from
-- before encryption that the re-seal job has not reached yet, by the plaintext it still holds
-- (repository.same_phone). Only the first half had an index, so PostgreSQL read the whole
-- table for every reply (100,000 patients: 22 ms against 0.04 ms with this one, which lets
-- it combine the two indexes). Partial: once the re-seal job has hashed every number it
-- holds nothing, and a new patient's row, always hashed, is never written to it.
CREATE INDEX patients_phone_unhashed ON patients (phone)
    WHERE phone_hash IS NULL AND phone IS NOT NULL;
