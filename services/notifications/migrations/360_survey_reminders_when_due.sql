-- Survey reminders are made when they fall due (survey_reminders.py), not with the
-- invitation: the link keeps when its reminder is due and the key and event type its message
-- takes, until the reminder job makes the reminder (or finds the survey answered or the link
-- expired) and clears reminder_due_at. Links from before keep NULL: their reminders exist.
ALTER TABLE survey_links
    ADD COLUMN reminder_due_at   timestamptz,
    ADD COLUMN reminder_key      text,
    ADD COLUMN source_event_type text;
CREATE INDEX survey_links_reminder_due ON survey_links (reminder_due_at)
    WHERE reminder_due_at IS NOT NULL;
-- An answer, or a withdrawal of the visit or discharge, clears the waiting reminders of its
-- contact (survey_store.py) before it withdraws their messages.
CREATE INDEX survey_links_reminder_contact ON survey_links (contact_ref)
    WHERE reminder_due_at IS NOT NULL;
