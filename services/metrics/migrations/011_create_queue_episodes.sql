-- Registration queues (挂号排队): each queue's last report and its open episode over the
-- limit, and every episode with its longest length and duration. Written with the report's
-- inbox row, so a redelivered report changes nothing and a restart forgets no open episode.
CREATE TABLE queues (
    queue_id            text        PRIMARY KEY,
    department          text        NOT NULL,
    queue_name          text,
    length              integer     NOT NULL,
    reported_at         timestamptz NOT NULL,
    episode_id          text,           -- the open episode, if any
    episode_opened_at   timestamptz,
    episode_opening     integer,
    episode_max_length  integer
);

CREATE TABLE queue_episodes (
    episode_id      text        PRIMARY KEY,
    queue_id        text        NOT NULL,
    department      text        NOT NULL,
    alert_above     integer     NOT NULL,
    opened_at       timestamptz NOT NULL,
    opening_length  integer     NOT NULL,
    max_length      integer     NOT NULL,
    closed_at       timestamptz,
    closing_length  integer,
    duration_s      double precision
);
CREATE INDEX queue_episodes_opened_at ON queue_episodes (opened_at);
