-- The complaint procedure's facts per case (issue 21), for the monthly report: the validity
-- decision (投诉是否成立), when an unfounded one was closed (消除误会), escalation to the
-- director, accountability and settlement records, and radiology's confirmation of an
-- imaging dispute (its 2-hour limit's outcome is kept by migration 140). Rows written before stay NULL here.
ALTER TABLE complaint_cases
    ADD COLUMN validity                      text,
    ADD COLUMN unfounded_closed_at           timestamptz,
    ADD COLUMN escalated_at                  timestamptz,
    ADD COLUMN accountability_at             timestamptz,
    ADD COLUMN settlement_at                 timestamptz,
    ADD COLUMN imaging_confirmed_at          timestamptz;
