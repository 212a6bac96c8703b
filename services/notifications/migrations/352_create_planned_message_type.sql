-- A new message as the consumer plans it (message_rows.py): the columns it sets, in the order
-- of message_store.PLANNED. A batch's messages go to PostgreSQL as one array of this type
-- instead of one array per column: asyncpg checks every element of an array for nesting
-- (isinstance against collections.abc classes, through Python), 23 times a message that way,
-- once a message this way.
CREATE TYPE planned_message AS (
    id               uuid,
    idempotency_key  text,
    source_event_id  text,
    source_event_type text,
    template         text,
    audience         text,
    channel          text,
    patient_id       text,
    staff_id         text,
    subject_ref      text,
    urgent           boolean,
    body             text,
    encoding         text,
    segments         int,
    status           text,
    status_reason    text,
    due_at           timestamptz,
    send_after       timestamptz,
    deferred_reason  text,
    digest_slot      timestamptz,
    expires_at       timestamptz,
    delivered_at     timestamptz,
    finished_at      timestamptz
);
