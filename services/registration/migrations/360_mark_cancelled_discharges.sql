-- Before `discharge_cancelled` (the admission back on the ward after an A13), an A13 put a
-- discharged admission back to plain `admitted`: the same A13 resent under a new MSH-10 then
-- found it "never discharged", was held, and cancelled the patient's next, real discharge.
-- Those admissions are the `admitted` ones whose record is a discharge's: an A01 stores no
-- `discharged_at`, only an A03 does, and only an A13 took a discharged admission back to
-- `admitted` (it changed the status and kept the record). updated_at stays: nothing happened
-- to the visit, its status is only named as it is now.
UPDATE visits SET status = 'discharge_cancelled'
 WHERE kind = 'admission' AND status = 'admitted' AND record ? 'discharged_at';
