-- The two references from one message to another (a resend to what it resends, a digested note
-- to its digest) are indexed, so a message can be deleted without reading the whole table:
-- PostgreSQL's check of each foreign key looks for rows pointing at every deleted row, and
-- the retention purge (retention.py) clears those pointers first. Without these, every
-- message the purge destroyed read the table twice more (bench/retention_purge.py). Only
-- rows that point somewhere are in them: a newly planned SMS pays for neither.
CREATE INDEX messages_resend_of ON messages (resend_of) WHERE resend_of IS NOT NULL;
CREATE INDEX messages_digest_id ON messages (digest_id) WHERE digest_id IS NOT NULL;
