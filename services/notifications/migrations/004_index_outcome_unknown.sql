-- SMS failed as outcome unknown, counted by every reconciler pass (a gauge): a partial index
-- keeps the count off the table's two years of messages.
CREATE INDEX messages_outcome_unknown ON messages (finished_at)
    WHERE status = 'failed' AND status_reason = 'outcome_unknown';
