-- Errors the gateway or a staff channel's server answered (a 403 of credentials, a 500, a
-- proxy's 502/504, SMTP 535), counted apart from `attempts` (every hand-over): the attempt
-- cap (send_max_attempts) applies to these only. Counted in `attempts`, the hand-overs of an
-- outage (an SMS or a note waiting for its server, retries.py) used up the cap, and the first
-- answered error after it failed the message at once. A constant default: no table rewrite.
ALTER TABLE messages ADD COLUMN answered_errors integer NOT NULL DEFAULT 0;
