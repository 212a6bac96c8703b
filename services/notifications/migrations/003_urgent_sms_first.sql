-- Due SMS are claimed urgent first (a breach alert to a supervisor must not wait behind a
-- backlog of patient reminders), then in the order they fell due: this index serves that
-- order with the dispatcher's LIMIT, without sorting every due message.
CREATE INDEX messages_due_sms_urgent_first ON messages (urgent DESC, send_after)
    WHERE status = 'pending' AND channel = 'sms' AND digest_slot IS NULL;
