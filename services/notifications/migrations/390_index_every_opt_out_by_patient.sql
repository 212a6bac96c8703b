-- A patient merge moves every opt-out of the merged id, revoked ones too (app.PATIENT_MOVES),
-- which the partial index on the standing ones could not find: the merge read the table
-- whole. One index on every opt-out serves both.
DROP INDEX opt_outs_patient;
CREATE INDEX opt_outs_patient ON opt_outs (patient_id);
