-- The working-day calendar years operations added through the complaints service's calendar
-- API, kept from its `calendar.year_saved` events; they override the years shipped in
-- shared/hospital_shared/calendar_data. `schedule` is the event's JSON form of the year.
CREATE TABLE calendar_years (
    year     integer     PRIMARY KEY,
    schedule jsonb       NOT NULL,
    saved_by text        NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now()
);
