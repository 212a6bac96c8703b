-- Restores of the database from a backup (`make restore`: tools/devstack/devstack/backup.py
-- writes a row). SMS handed to the gateway between the backup and the loss are pending again
-- in the restored rows (or planned again by the replay, with the same message id): for a
-- while after a restore the dispatcher asks the gateway's records before it hands one over
-- (restore_check.py), and settles the ones the gateway already took instead of sending them.
CREATE TABLE restores (
    id               bigserial   PRIMARY KEY,
    backup_taken_at  timestamptz NOT NULL,
    restored_at      timestamptz NOT NULL DEFAULT now()
);
