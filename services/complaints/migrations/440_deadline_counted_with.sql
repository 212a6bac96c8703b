-- Each working-day deadline says how it was counted (recount.py, policy.Deadline): the working
-- days it was given, and per year its count ran over the stamp of the schedule it was counted
-- with (policy.year_stamp; JSON null: the year had none and was counted Monday to Friday). A
-- saved year and every instance's reload recount the running deadlines counted otherwise, by
-- their own record, not by the case's flag (which a closed and reopened case kept from its
-- first cycle, and which a corrected year never set).
ALTER TABLE case_deadlines
    ADD COLUMN working_days integer,
    ADD COLUMN calendar_counted jsonb;

-- Deadlines from before: the running ones of flagged open cases were counted Monday to Friday
-- for the case's missing years (the amount given is worked out at their recount); the others
-- were counted by the calendar in force and have nothing to recount (NULL: never picked).
UPDATE case_deadlines d
   SET calendar_counted = (SELECT jsonb_object_agg(y::text, 'null'::jsonb)
                             FROM unnest(c.calendar_missing_years) AS y)
  FROM cases c
 WHERE c.id = d.case_id AND d.settled_at IS NULL
   AND c.calendar_missing_years <> '{}' AND c.status NOT IN ('closed', 'withdrawn');

-- The save of a year reads the running deadlines due from its first day on; the timer's
-- case_deadlines_open_due leaves out the breached ones, which still run and are recounted.
CREATE INDEX case_deadlines_running_due ON case_deadlines (due_at) WHERE settled_at IS NULL;
-- The reload reads the running deadlines that say how they were counted: the open work, not
-- the settled history.
CREATE INDEX case_deadlines_running_counted ON case_deadlines (case_id)
    WHERE settled_at IS NULL AND calendar_counted IS NOT NULL;
