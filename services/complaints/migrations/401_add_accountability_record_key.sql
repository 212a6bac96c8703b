-- The sender's one-time key of an accountability record (the console's form carries one): a
-- repeat of the same post (a double click, a retry) finds the record made the first time
-- instead of making a second (`procedure.record_accountability`).
ALTER TABLE case_accountability ADD COLUMN record_key text;
CREATE UNIQUE INDEX case_accountability_record_key ON case_accountability (case_id, record_key);
