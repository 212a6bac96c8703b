-- The free text of an audit line (detail's "note" and "comment") is sealed (field_crypto.py,
-- repository.AUDIT_SEALED). The re-seal job must move those values to the current key after a
-- rotation, and seal the lines written before, but the audit refuses every UPDATE. One narrow
-- exception, like the retention purge's DELETE: inside a transaction that sets
-- complaints.resealing, an UPDATE may change only those two values of detail, and only
--   * a sealed value into one with the same ciphertext (a re-wrap changes the wrapped data
--     key, the first 80 base64 characters after `enc1:<key id>:`, never the rest), or
--   * a clear value into a sealed one (the job seals what it read under FOR UPDATE; the
--     database holds no key, so it cannot compare the texts: that exception is as trusted
--     as the purge's).
-- Every other column, every other key of detail, and a value's absence or JSON null stay
-- exactly as they were.

CREATE FUNCTION case_audit_text_resealed(old_value jsonb, new_value jsonb)
    RETURNS boolean LANGUAGE sql IMMUTABLE SET search_path FROM CURRENT AS $$
    SELECT CASE
        WHEN old_value IS NULL OR jsonb_typeof(old_value) <> 'string'
            THEN new_value IS NOT DISTINCT FROM old_value
        WHEN jsonb_typeof(new_value) IS DISTINCT FROM 'string'
            OR NOT starts_with(new_value #>> '{}', 'enc1:')
            THEN false
        WHEN NOT starts_with(old_value #>> '{}', 'enc1:') THEN true
        ELSE substring(old_value #>> '{}' FROM '^enc1:[^:]+:.{80}(.+)$')
            = substring(new_value #>> '{}' FROM '^enc1:[^:]+:.{80}(.+)$')
    END
$$;

CREATE OR REPLACE FUNCTION case_audit_append_only() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('complaints.purging', true) = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND current_setting('complaints.resealing', true) = 'on'
        AND (NEW.id, NEW.case_id, NEW.at, NEW.actor_id, NEW.actor_role, NEW.action,
             NEW.from_status, NEW.to_status)
            IS NOT DISTINCT FROM (OLD.id, OLD.case_id, OLD.at, OLD.actor_id, OLD.actor_role,
                                  OLD.action, OLD.from_status, OLD.to_status)
        AND NEW.detail - ARRAY['note', 'comment'] = OLD.detail - ARRAY['note', 'comment']
        AND case_audit_text_resealed(OLD.detail -> 'note', NEW.detail -> 'note')
        AND case_audit_text_resealed(OLD.detail -> 'comment', NEW.detail -> 'comment')
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'case_audit is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
