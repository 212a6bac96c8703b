-- The calendar screen asks at every load which years open cases were counted Monday to Friday
-- for (repository.calendar_years_open_cases_lack), and saving a year lifts that flag
-- (unflag_calendar_year): both read only flagged open cases through this index, not the whole
-- table. Its predicate is the queries' `_FLAGGED_OPEN`, word for word (finished: closed,
-- withdrawn; tests/complaints/test_calendar_recount.py checks they agree).
CREATE INDEX cases_calendar_missing_open ON cases (id)
    WHERE calendar_missing_years <> '{}' AND status NOT IN ('closed', 'withdrawn');
