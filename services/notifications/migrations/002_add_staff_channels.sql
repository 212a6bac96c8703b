-- Staff channels beyond SMS and the inbox: email (SMTP) and robot webhooks (WeCom / DingTalk),
-- each staff member's choice of channels, and the daily digest of routine assignments.

-- A staff member's channels. No row, or NULL columns: the defaults from the settings
-- (SMS, plus email and webhook where an address / a webhook exists). The inbox always gets it.
CREATE TABLE staff_preferences (
    staff_id         text        PRIMARY KEY,
    channels         text[],                               -- of sms | email | webhook
    digest           boolean,                              -- routine assignments in a digest
    updated_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       text,
    CHECK (channels IS NULL OR channels <@ ARRAY['sms', 'email', 'webhook'])
);

-- Group-robot webhooks: one per department (its group chat) and/or per staff member.
-- A staff member's own webhook wins over the department's.
CREATE TABLE staff_webhooks (
    id               bigserial   PRIMARY KEY,
    department_code  text,
    staff_id         text,
    flavour          text        NOT NULL CHECK (flavour IN ('wecom', 'dingtalk')),
    url              text        NOT NULL,
    msgtype          text        NOT NULL DEFAULT 'text' CHECK (msgtype IN ('text', 'markdown')),
    secret           text,                                 -- DingTalk 加签 secret
    mention          boolean     NOT NULL DEFAULT true,    -- @ the staff member's mobile
    active           boolean     NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text,
    CHECK ((department_code IS NULL) <> (staff_id IS NULL))
);
CREATE UNIQUE INDEX staff_webhooks_department ON staff_webhooks (department_code)
    WHERE active AND department_code IS NOT NULL;
CREATE UNIQUE INDEX staff_webhooks_staff ON staff_webhooks (staff_id)
    WHERE active AND staff_id IS NOT NULL;

-- A routine assignment waiting for its digest has `digest_slot` (the digest time it joins);
-- once the digest is built it becomes `digested`, pointing at the digest message.
ALTER TABLE messages
    ADD COLUMN digest_slot timestamptz,
    ADD COLUMN digest_id   uuid REFERENCES messages (id),
    ADD COLUMN to_address  text;                            -- email address / webhook used
ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
    CHECK (status IN ('pending', 'sending', 'submitted', 'delivered', 'failed', 'expired',
                      'withdrawn', 'suppressed', 'digested'));
CREATE INDEX messages_digest_due ON messages (digest_slot)
    WHERE status = 'pending' AND digest_slot IS NOT NULL;
CREATE INDEX messages_staff_push_due ON messages (send_after)
    WHERE status = 'pending' AND channel IN ('email', 'webhook');
