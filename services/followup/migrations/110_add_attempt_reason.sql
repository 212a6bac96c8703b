-- Why a call reached no one, and the time someone who answered asked to be called back
-- (the console's outcome form; followup.domain.NOT_REACHED_REASONS).
ALTER TABLE call_attempts
    ADD COLUMN not_reached_reason text,
    ADD COLUMN callback_at        timestamptz;
