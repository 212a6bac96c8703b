-- The console's only table: signed-in staff's server-side sessions. The cookie holds a random
-- id; the row is keyed by its SHA-256, so a copy of this table does not sign anyone in.
CREATE TABLE sessions (
    id_hash          bytea PRIMARY KEY,
    staff_id         text NOT NULL,
    roles            text[] NOT NULL,
    department       text,
    display_name     text NOT NULL,
    access_token     text NOT NULL,
    refresh_token    text,
    access_expires_at timestamptz,
    id_token         text,
    csrf_token       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
