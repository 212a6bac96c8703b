-- Each opt-out's own id, carried by its events on notifications.opt-outs.v1 (its key, so an
-- opt-out and its withdrawal stay in order): the service reads them back, and after a restore
-- re-inserts, by this id and once, the opt-outs made since the backup, and withdraws those
-- withdrawn since. A small table: the volatile default's rewrite is quick.
ALTER TABLE opt_outs ADD COLUMN ref uuid NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX opt_outs_ref ON opt_outs (ref);
