-- Backups that were taken and checked (`make backup`: tools/devstack/devstack/backup.py
-- writes a row once the dump has been restored into a scratch database and its row counts
-- matched). The newest is exported as hospital_backup_last_success_timestamp_seconds.
CREATE TABLE backups (
    taken_at     timestamptz PRIMARY KEY,   -- the instant of the dump's snapshot
    checked_at   timestamptz NOT NULL DEFAULT now(),
    location     text        NOT NULL,
    size_bytes   bigint      NOT NULL
);
