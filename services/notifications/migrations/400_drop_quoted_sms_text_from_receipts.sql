-- An SMPP operator's delivery receipt quotes the first 20 characters of the SMS after `text:`
-- (a complaint's acknowledgement, a patient's name), and a failed message's status reason
-- kept the receipt whole. Receipts no longer bring it (callbacks.receipt_detail); the reasons
-- recorded before lose it here.
UPDATE messages
SET status_reason = rtrim(regexp_replace(status_reason, '\mtext:.*$', '', 'i'))
WHERE status_reason LIKE 'DLR %' AND status_reason ~* '\mtext:';
