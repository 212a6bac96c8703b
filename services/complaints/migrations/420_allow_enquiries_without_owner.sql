-- An enquiry whose owner is made inactive on the roster (or given a role that may not hold it)
-- is handed back to an active member; when nobody active can take it, it is left without an
-- owner, for the supervisors of its departments (as a case is left unassigned), not with
-- somebody who left.

ALTER TABLE enquiries ALTER COLUMN owner_id DROP NOT NULL;
