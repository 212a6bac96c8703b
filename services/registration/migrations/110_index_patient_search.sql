-- The staff's patient search (registration/patients.py): an inbound caller by the number the
-- hospital systems sent (normalised, E.164), or a name by its beginning.
CREATE INDEX visits_patient_phone ON visits ((record #>> '{patient,phone}'));
CREATE INDEX visits_patient_name ON visits ((record #>> '{patient,name}') text_pattern_ops);
