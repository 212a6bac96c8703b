-- A patient merge (ADT^A40) moves the merged id's enquiries and feedback to the survivor
-- (app.PATIENT_MOVES): without these, each merge read both tables whole, in the merges'
-- transaction. tests/integration/test_merge_moves_indexed.py checks every service's moves.
CREATE INDEX enquiries_patient ON enquiries (patient_id);
CREATE INDEX feedback_patient ON feedback (patient_id);
