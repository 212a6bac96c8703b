"""The simulated stream: deterministic, valid, realistic in its mix, and fake in its people."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import phonenumbers
import pytest

from hospital_shared.codec import decode
from hospital_shared.events import topic_for
from simulator.hospital import Rates
from simulator.stream import TZ, SimConfig, generate, summarise

START = datetime(2026, 11, 23, 0, 0, tzinfo=TZ)


@pytest.fixture(scope="module")
def week() -> list:  # type: ignore[type-arg]
    return generate(SimConfig(start=START, days=7, rates=replace(Rates(), visits_per_day=800)))


def test_the_same_seed_gives_the_same_stream_and_another_seed_another() -> None:
    cfg = SimConfig(start=START, days=0.5, rates=replace(Rates(), visits_per_day=300))
    first = [e.value() for e in generate(cfg)]
    assert first == [e.value() for e in generate(cfg)]
    assert first != [e.value() for e in generate(replace(cfg, seed=cfg.seed + 1))]


def test_adding_hospitals_leaves_the_first_hospital_unchanged() -> None:
    one = SimConfig(start=START, days=0.5, rates=replace(Rates(), visits_per_day=300))
    network = replace(one, hospitals=3)
    alone = [e.value() for e in generate(one)]
    events = generate(network)
    assert [e.value() for e in events if e.hospital == 1] == alone
    assert {e.hospital for e in events} == {1, 2, 3}
    assert len({e.event.source for e in events}) == 3


def test_every_event_is_a_valid_cloudevent_on_its_topic_in_time_order(week: list) -> None:  # type: ignore[type-arg]
    for e in week:
        assert decode(e.value(), expected_topic=e.topic).id == e.event.id
        assert e.topic == topic_for(e.type)
        assert START <= e.at < START + timedelta(days=7)
    assert [e.at for e in week] == sorted(e.at for e in week)
    assert len({e.event.id for e in week}) == len(week)


def test_the_mix_looks_like_a_hospital_week(week: list) -> None:  # type: ignore[type-arg]
    counts = summarise(week)
    visits = counts["registration.created"]
    assert visits == pytest.approx(7 * 800, rel=0.01)
    assert counts["patient.discharged"] == pytest.approx(visits * 0.06, rel=0.15)
    assert counts["registration.cancelled"] > 0 and counts["registration.no_show"] > 0
    assert counts["complaint.submitted"] > 0 and counts["discharge.cancelled"] >= 0
    regs = [e.event.data for e in week if e.type == "registration.created"]
    first = sum(r.visit_type.value == "first" for r in regs) / len(regs)
    booked = sum(r.appointment_at is not None for r in regs) / len(regs)
    assert first == pytest.approx(0.35, abs=0.05)
    assert booked == pytest.approx(0.60, abs=0.05)
    assert {r.channel.value for r in regs} == {"online", "app", "phone", "onsite", "kiosk"}
    departments = Counter(r.department.code for r in regs)
    assert departments["PED"] > departments["URO"]  # paediatrics is busier than urology
    dispositions = {e.event.data.disposition.value for e in week if e.type == "patient.discharged"}
    assert dispositions == {"home", "transferred", "against_medical_advice", "deceased"}
    channels = {e.event.data.channel.value for e in week if e.type == "complaint.submitted"}
    assert channels == {"phone", "online", "onsite", "followup"}


def test_returning_patients_come_back_and_cancellations_follow_their_booking(week: list) -> None:  # type: ignore[type-arg]
    regs = {e.event.data.registration_id: e for e in week if e.type == "registration.created"}
    patients = Counter(e.event.data.patient.patient_id for e in regs.values())
    assert any(n > 1 for n in patients.values())
    for e in week:
        if e.type in ("registration.cancelled", "registration.no_show"):
            booking = regs[e.event.data.registration_id]
            assert booking.event.data.appointment_at is not None
            assert e.at > booking.at and e.key == booking.key


def test_people_look_chinese_but_are_fake(week: list) -> None:  # type: ignore[type-arg]
    patients = {
        e.event.data.patient.patient_id: e.event.data.patient
        for e in week
        if e.type in ("registration.created", "patient.discharged")
    }
    for p in list(patients.values())[:500]:
        assert 2 <= len(p.name) <= 3 and all("\u4e00" <= ch <= "\u9fff" for ch in p.name)
        assert phonenumbers.is_valid_number(phonenumbers.parse(p.phone, "CN"))
        assert p.patient_id.startswith("SIMH01-P")


def test_ids_carry_the_run_id_and_department_tag() -> None:
    cfg = SimConfig(start=START, days=0.2, run_id="R9", department_tag="x1")
    for e in generate(cfg):
        assert e.key.startswith("R9H01-")
        department = getattr(e.event.data, "department", None)
        if department is not None:
            assert department.code.endswith("-x1")
