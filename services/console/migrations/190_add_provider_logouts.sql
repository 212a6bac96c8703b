-- Back-channel logout (console/backchannel.py): the identity provider's session (`sid`) and
-- person (`sub`) of each console session, from the ID token at sign-in, so a logout token
-- finds the sessions it ends. Sessions signed in before this have neither: they end as before
-- (idle, maximum, or a refused refresh).
ALTER TABLE sessions ADD COLUMN provider_sid text, ADD COLUMN provider_sub text;
CREATE INDEX sessions_provider_sid ON sessions (provider_sid);
CREATE INDEX sessions_provider_sub ON sessions (provider_sub);

-- The provider's logouts, one row per logout token: its `sid`, or (without one) its `sub`
-- and when it was issued. A session they name is refused on every instance, also one whose
-- sign-in was still under way when the token came. Purged after CONSOLE_SESSION_MAX_S.
CREATE TABLE provider_logouts (
    sid         text,
    sub         text,
    issued_at   timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    CHECK (sid IS NOT NULL OR sub IS NOT NULL)
);
CREATE INDEX provider_logouts_sid ON provider_logouts (sid);
CREATE INDEX provider_logouts_sub ON provider_logouts (sub);
CREATE INDEX provider_logouts_received ON provider_logouts (received_at);
