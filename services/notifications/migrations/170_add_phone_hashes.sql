-- Phone numbers are stored sealed (shared/hospital_shared/field_crypto.py: a fresh random
-- key per value), so the same number never gives the same text twice: an exact search by
-- number compares these keyed hashes (HMAC-SHA256 under DATA_HASH_KEY, which the database
-- never sees) instead. Rows from before encryption get theirs from the re-seal job; until
-- then the searches also compare the plaintext they still hold.
ALTER TABLE patients ADD COLUMN phone_hash text;
ALTER TABLE opt_outs ADD COLUMN phone_hash text;
ALTER TABLE messages ADD COLUMN to_number_hash text;
CREATE INDEX patients_phone_hash ON patients (phone_hash) WHERE phone_hash IS NOT NULL;
CREATE INDEX opt_outs_phone_hash ON opt_outs (phone_hash) WHERE revoked_at IS NULL;
