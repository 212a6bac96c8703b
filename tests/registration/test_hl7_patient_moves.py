"""ADT^A02 (transfer) and ADT^A40 (merge) into intakes and ACKs, and the ACK's MSH-7 offset,
through the real handler with a fake store."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hospital_shared.service_events.registration import PatientsMerged, PatientTransferred
from registration.handlers import Hl7Handler, rules_from
from registration.hl7_messages import ack, read_header
from registration.settings import Settings
from tests.registration.messages import a02, a40
from tests.registration.test_hl7 import FakeStore, handler, parse_ack

TZ = ZoneInfo("Asia/Shanghai")


def whole(reply: Any, segment: str, field: int) -> str:
    """A field with its components (`MRG^1^1`), as sent."""
    return str(reply.segment(segment)(field))


async def test_a02_is_a_transfer_to_the_department_in_pv1_3() -> None:
    store = FakeStore()
    reply = parse_ack(await handler(store)(a02("T-1", patient_id="P1", admission_id="A1")))
    assert str(reply["MSA.F1"]) == "AA"
    [taken] = store.taken
    assert taken.type == "patient.transferred"
    data = taken.data
    assert isinstance(data, PatientTransferred)
    assert (data.patient_id, data.admission_id) == ("P1", "A1")
    assert (data.department.code, data.department.name) == ("NEURO", "神经内科")
    assert (data.ward, data.bed) == ("7B", "12")
    assert data.prior_department is not None and data.prior_department.code == "CARD"
    assert data.transferred_at == datetime(2026, 11, 23, 9, 0, tzinfo=TZ)  # EVN-6


async def test_a40_is_one_merge_per_pid_mrg_pair_with_distinct_event_ids() -> None:
    store = FakeStore()
    reply = parse_ack(await handler(store)(a40("M-1", ("NEW", "OLD"), ("NEW2", "OLD2"))))
    assert str(reply["MSA.F1"]) == "AA"
    merges = [t.data for t in store.taken]
    assert all(isinstance(m, PatientsMerged) for m in merges)
    assert [(m.surviving_patient_id, m.merged_patient_id) for m in merges] == [  # type: ignore[attr-defined]
        ("NEW", "OLD"),
        ("NEW2", "OLD2"),
    ]
    assert len({t.event_id for t in store.taken}) == 2
    assert {t.type for t in store.taken} == {"patient.merged"}


REFUSED = [
    # (message, known departments, ERR-2, text in ERR-8)
    (a02("T-2", patient_id="P1", admission_id="A1", department=""), "", "PV1^1^3", "department"),
    (a02("T-3", patient_id="P1", admission_id="A1"), "CARD,ORTH", "PV1^1^3",
     "unknown department 'NEURO'"),
    (a40("M-2", ("NEW", "OLD"), mrg=False), "", "MRG^1^1", "MRG segment missing"),
    (a40("M-3", ("NEW", "")), "", "MRG^1^1", "Field required"),
    (a40("M-4", ("NEW", "OLD"), ("P9", "P9")), "", "MRG^2^1", "same id as PID-3"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "known", "location", "text"), REFUSED)
async def test_an_unusable_transfer_or_merge_is_refused_ae_naming_the_field(
    raw: bytes, known: str, location: str, text: str
) -> None:
    """Nothing of the message is stored: the next message goes on as usual."""
    store = FakeStore()
    rules = rules_from(Settings(hl7_known_departments=known))
    reply = parse_ack(await Hl7Handler(store, rules=rules, us=("OPS", "REG"))(raw))
    assert str(reply["MSA.F1"]) == "AE"
    assert whole(reply, "ERR", 2) == location
    assert text in str(reply["ERR.F8"])
    assert store.taken == []


def test_the_ack_msh_7_carries_the_time_zone_offset() -> None:
    header = read_header(a40("M-5", ("NEW", "OLD")), default_charset="utf-8")
    now = datetime(2026, 12, 5, 10, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    reply = parse_ack(ack(header, "AA", now=now))
    assert str(reply["MSH.F7"]) == "20261205103000+0800"
    assert whole(reply, "MSH", 9) == "ACK^A40^ACK"
