-- The department directory: the name staff know a department by (心内科 / Cardiology) for the
-- code the hospital's systems send (CARD). The console showed the codes alone: no service kept
-- the names. Operations add and rename them (`PUT /v1/departments/{code}`); a save carries the
-- version it read and is refused when the department changed since, as the roster's saves are.
CREATE TABLE departments (
    code text PRIMARY KEY,
    name_zh text NOT NULL,
    name_en text,
    active boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now(),
    version integer NOT NULL DEFAULT 1
);
