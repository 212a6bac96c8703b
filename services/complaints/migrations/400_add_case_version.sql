-- Optimistic concurrency (staff steps on what they saw): every change of a case increments its
-- version (`repository.update_case`), every answer with the case carries it, and a step sent
-- with the version its sender read is refused (409) when the case has changed since.
ALTER TABLE cases ADD COLUMN version integer NOT NULL DEFAULT 1;
