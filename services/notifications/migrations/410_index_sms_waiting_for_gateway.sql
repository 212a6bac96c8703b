-- The SMS waiting for the gateway to take them (notifications_sms_waiting_for_gateway, counted
-- by every reconciler pass): empty but during an outage, so the count reads no other row and
-- a message planned or sent normally never enters it.
CREATE INDEX messages_waiting_for_gateway ON messages (send_after)
    WHERE status = 'pending' AND deferred_reason = 'gateway_retry';
-- GET /v1/messages?status=failed|expired (operations after an outage): those few, newest
-- first, without reading the delivered ones. Pending messages have messages_due.
CREATE INDEX messages_failed_or_expired ON messages (created_at DESC, id DESC)
    WHERE status IN ('failed', 'expired');
