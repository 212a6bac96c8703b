-- Retention passes (registration/retention.py) find old rows by time. BRIN indexes: these
-- tables are written in time order, and a BRIN index costs next to nothing per insert.
CREATE INDEX visits_updated_at ON visits USING brin (updated_at);
CREATE INDEX held_intakes_received_at ON held_intakes USING brin (received_at);
CREATE INDEX received_events_received_at ON received_events USING brin (received_at);
CREATE INDEX hl7_messages_received_at ON hl7_messages USING brin (received_at);
