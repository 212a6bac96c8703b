-- Who read which patient's personal data (PIPL): one row per request and patient, written by
-- `hospital_shared.access_records` on the connection that read the data. Append-only: the
-- trigger below refuses UPDATE, DELETE and TRUNCATE; only the retention purge
-- (`access_records.purge_expired`) deletes, past the retention, with
-- `hospital.access_records_purge` set for its own transaction, and records that it did.
CREATE TABLE access_records (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    service     text        NOT NULL,
    staff_id    text,
    role        text        NOT NULL,
    department  text,
    patient_id  text,
    record_kind text        NOT NULL,
    record_ids  text[]      NOT NULL,
    outcome     text        NOT NULL CHECK (outcome IN ('granted', 'denied', 'purged')),
    in_scope    boolean     NOT NULL,
    route       text        NOT NULL,
    client_addr text,
    reason      text
);
CREATE INDEX access_records_patient ON access_records (patient_id, at);
CREATE INDEX access_records_staff ON access_records (staff_id, at);
CREATE INDEX access_records_at ON access_records (at);

CREATE FUNCTION refuse_access_record_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('hospital.access_records_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'access records are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER access_records_append_only
    BEFORE UPDATE OR DELETE ON access_records
    FOR EACH ROW EXECUTE FUNCTION refuse_access_record_change();
CREATE TRIGGER access_records_no_truncate
    BEFORE TRUNCATE ON access_records
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_access_record_change();
