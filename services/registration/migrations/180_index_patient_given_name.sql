-- The staff's patient search by name (registration/patients.py) finds a name by its beginning
-- or by what follows its first character: a Chinese name's given name after a one-character
-- surname ("学文" finds 钱学文), as callers often say it.
CREATE INDEX visits_patient_given_name
    ON visits ((substr(record #>> '{patient,name}', 2)) text_pattern_ops);
