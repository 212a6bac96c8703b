"""Expected effects come from the services' own rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from followup.planning import inpatient_task_id, outpatient_task_id
from hospital_shared.codec import decode
from simulator.expected import expected_effects
from simulator.hospital import Rates
from simulator.stream import SimConfig, SimEvent, generate
from tests import factories


def test_expected_effects_follow_the_follow_up_and_sms_rules() -> None:
    now = datetime.now(UTC)
    cfg = SimConfig(
        start=now - timedelta(hours=3),
        days=1,
        rates=replace(Rates(), visits_per_day=1500, complaints_per_visit=0.02),
    )
    events = generate(cfg)
    x = expected_effects(events, processed_from=now, processed_until=now + timedelta(minutes=5))
    discharges = [e.event.data for e in events if e.type == "patient.discharged"]
    for d in discharges:
        task = inpatient_task_id(d.admission_id)
        assert (task in x.tasks) == (
            d.disposition.value != "deceased" and not d.patient.sms_opt_out
        )
    # A cancelled or missed visit withdraws its call, and so does a cancelled discharge (the
    # stream has one only now and then, depending on the hour it starts: the flake in CI).
    cancelled = {
        outpatient_task_id(e.event.data.registration_id)
        for e in events
        if e.type in ("registration.cancelled", "registration.no_show")
    } | {
        inpatient_task_id(e.event.data.admission_id)
        for e in events
        if e.type == "discharge.cancelled"
    }
    assert {t for t, s in x.tasks.items() if s == "withdrawn"} == cancelled & set(x.tasks)
    sampled = sum(1 for t in x.tasks if t.startswith("FU-OP-"))
    visits = sum(1 for e in events if e.type == "registration.created")
    assert 0.25 < sampled / visits < 0.45  # 60% of first visits, 20% of return visits
    templates = {s.template for s in x.sms}
    assert "complaint_acknowledgement" in templates and "discharge_care_notice" in templates
    deceased = {d.patient.patient_id for d in discharges if d.disposition.value == "deceased"}
    assert x.deceased_patients == deceased
    assert x.counters["hospital_registrations"] == visits
    assert len(x.cases) == sum(1 for e in events if e.type == "complaint.submitted")


def test_a_death_withdraws_the_patients_calls_of_earlier_contacts_in_the_expected_effects() -> None:
    """Follow-up withdraws a deceased patient's calls of contacts before the death (deaths.py),
    whichever event it reads first: the expected effects say so, and keep a later contact's."""
    now = datetime.now(UTC)
    patient = factories.patient(7)
    home = factories.discharge(
        1, patient=patient, discharged_at=(now - timedelta(days=9)).isoformat()
    )
    visit = factories.registration(
        2, patient=patient, registered_at=(now - timedelta(days=2)).isoformat()
    )
    died = factories.discharge(
        3, patient=patient, disposition="deceased", discharged_at=now.isoformat()
    )
    later = factories.registration(
        4, patient=patient, registered_at=(now + timedelta(days=1)).isoformat()
    )
    stream = [sim(e, now) for e in (home, died, visit, later)]  # the visit read after the death
    x = expected_effects(stream, processed_from=now, processed_until=now)
    assert x.tasks[inpatient_task_id("A000001")] == "withdrawn"
    # a visit's call is planned when sampled (by its id): withdrawn before the death, kept after
    assert x.tasks.get(outpatient_task_id("R000002"), "withdrawn") == "withdrawn"
    assert x.tasks.get(outpatient_task_id("R000004"), "open") == "open"
    assert outpatient_task_id("R000002") in x.tasks or outpatient_task_id("R000004") in x.tasks


def sim(event: dict[str, Any], at: datetime) -> SimEvent:
    decoded = decode(factories.to_bytes(event))
    return SimEvent(at=at, topic="t", key=event["subject"], event=decoded, hospital=0)
