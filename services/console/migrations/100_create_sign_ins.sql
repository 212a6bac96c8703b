-- Sign-ins under way: between /login sending the browser to the identity provider and the
-- callback. Keyed by the SHA-256 of `state` (which the browser carries); the PKCE verifier and
-- the nonce never leave the server. The callback takes a row once (DELETE ... RETURNING); rows
-- older than the sign-in timeout do not count and are purged by later sign-ins.
CREATE TABLE sign_ins (
    state_hash    bytea PRIMARY KEY,
    code_verifier text NOT NULL,
    nonce         text NOT NULL,
    next_path     text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_ins_created ON sign_ins (created_at);
