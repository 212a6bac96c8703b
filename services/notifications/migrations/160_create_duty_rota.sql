-- The duty rota (值班表): who is on duty for a department, or one of its windows (a queue),
-- over a time range. A registration queue above its limit is reported to whoever is on duty
-- then; with nobody on duty, to the department's supervisor (issue 21). Operations (admin)
-- keep it through /v1/duty-rota; a removed shift stays, marked, for the record.
CREATE TABLE duty_shifts (
    id               bigserial   PRIMARY KEY,
    department_code  text        NOT NULL,
    queue_id         text,                                  -- one window; NULL: the department
    staff_id         text        NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text        NOT NULL,
    removed_at       timestamptz,
    removed_by       text,
    CHECK (ends_at > starts_at)
);
CREATE INDEX duty_shifts_covering ON duty_shifts (department_code, starts_at, ends_at)
    WHERE removed_at IS NULL;
