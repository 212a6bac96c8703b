-- From now on the sessions' tokens are sealed (field_crypto, console/session.py). Sessions
-- stored before then hold them in clear: they end here (their staff sign in again), so no
-- token stays readable in the table.
DELETE FROM sessions
 WHERE access_token NOT LIKE 'enc1:%'
    OR refresh_token NOT LIKE 'enc1:%'
    OR id_token NOT LIKE 'enc1:%';
