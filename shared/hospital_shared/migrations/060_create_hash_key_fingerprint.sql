-- The fingerprint of the DATA_HASH_KEY this schema's search hashes (phone numbers) were made
-- with: a service started with another key refuses to start (field_crypto.check_hash_key)
-- instead of silently no longer matching an opted-out number or a patient searched by phone.
-- One row, written by the first start after this migration. Not the key: an HMAC under it.
CREATE TABLE hash_key_fingerprint (
    fingerprint  text        NOT NULL,
    one_row      boolean     PRIMARY KEY DEFAULT true CHECK (one_row),
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
