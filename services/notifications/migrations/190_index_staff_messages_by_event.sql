-- A resolved Prometheus alert tells whoever its firing told (alerts_api): the staff messages
-- of one source event, found without reading every message.
CREATE INDEX messages_staff_by_event ON messages (source_event_id) WHERE staff_id IS NOT NULL;
