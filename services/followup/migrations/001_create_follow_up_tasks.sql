CREATE TABLE follow_up_tasks (
    task_id          text        PRIMARY KEY,
    kind             text        NOT NULL,
    status           text        NOT NULL DEFAULT 'planned',
    patient_id       text        NOT NULL,
    department_code  text        NOT NULL,
    source_event_id  text        NOT NULL,
    due_at           timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, source_event_id)
);
