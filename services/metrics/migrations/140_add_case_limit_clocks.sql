-- The other two time limits of a case's first cycle, for their KPIs (issue 20): complex cases
-- answered within 72 h, imaging disputes confirmed by radiology within 2 h. NULL due time:
-- the limit does not apply to the case (not complex, not an imaging dispute).
ALTER TABLE complaint_cases
    ADD COLUMN complex_answer_due_at        timestamptz,
    ADD COLUMN complex_answer_outcome       text,
    ADD COLUMN imaging_confirmation_due_at  timestamptz,
    ADD COLUMN imaging_confirmation_outcome text;

-- When a counter series first appeared: the live collector serves it at 0 for a while
-- (METRICS_NEW_SERIES_ZERO_S) so that Prometheus's increase() counts its first event.
ALTER TABLE counter_totals ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
UPDATE counter_totals SET created_at = '-infinity';
