-- An enquiry taken over REST may carry the caller's id, as a case and a piece of feedback may:
-- a retried POST (a timeout, a double click) answers with the enquiry already taken instead of
-- taking it twice, two owners and two clocks for one question. Unique; NULL when none was given.

ALTER TABLE enquiries ADD COLUMN external_id text UNIQUE;
