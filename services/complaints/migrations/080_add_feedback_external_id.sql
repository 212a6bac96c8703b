-- Praise and suggestions also arrive as `feedback.submitted` events on hospital.complaints.v1:
-- the hospital system's id, unique, so a redelivered event records nothing twice. Feedback
-- taken over REST has none.

ALTER TABLE feedback ADD COLUMN external_id text UNIQUE;
