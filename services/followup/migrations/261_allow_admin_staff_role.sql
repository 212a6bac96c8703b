-- Operations (admin) members are on the roster too (issue 20: they hear the platform's
-- operations alerts); the role check of 002 knew only agents, doctors and supervisors, so
-- saving one was a 500 (a CHECK violation, found by schemathesis).
ALTER TABLE staff DROP CONSTRAINT staff_role_check;
ALTER TABLE staff ADD CONSTRAINT staff_role_check
    CHECK (role IN ('agent', 'doctor', 'supervisor', 'admin'));
