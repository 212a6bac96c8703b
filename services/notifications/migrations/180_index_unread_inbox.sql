-- The staff console's unread count (GET /v1/inbox/unread, on every page): the unread notes of
-- one person's inbox, counted from this index alone.
CREATE INDEX messages_inbox_unread ON messages (staff_id)
    WHERE channel = 'inbox' AND read_at IS NULL;
