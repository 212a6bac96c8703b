-- The working-day calendar years operations add or replace (the State Council's holidays and
-- adjusted working days, 调休); they override the years shipped in
-- shared/hospital_shared/calendar_data. `schedule` is the API's JSON form of the year.
CREATE TABLE calendar_years (
    year     integer     PRIMARY KEY,
    schedule jsonb       NOT NULL,
    saved_by text        NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now()
);

-- A case whose working-day deadlines counted a year without official schedule as Monday to
-- Friday lists those years here (and in its API answer): its deadlines may be wrong.
ALTER TABLE cases ADD COLUMN calendar_missing_years integer[] NOT NULL DEFAULT '{}';
