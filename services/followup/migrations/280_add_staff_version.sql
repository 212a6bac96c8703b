-- A member's version, raised by every save that changes them: an edit carries the version it
-- read (`expected_version`) and is refused when the member changed since (two tabs editing one
-- member lost the first save's change), and an add carries 0 and is refused when the id is
-- already on the roster (the add form overwrote that member). Existing members start at 1.
ALTER TABLE staff ADD COLUMN version integer NOT NULL DEFAULT 1;
