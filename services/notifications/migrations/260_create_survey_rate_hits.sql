-- The survey page's request limits shared by every instance of the service (issue 20): one
-- counter per key (a client address or a link's hash) and fixed window. Old windows are
-- deleted as new ones begin (survey_limits.py).
CREATE TABLE survey_rate_hits (
    key text NOT NULL,
    window_start timestamptz NOT NULL,
    hits integer NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX survey_rate_hits_window ON survey_rate_hits (window_start);
