"""What the complaints service tells other services: enough to act on, nothing confidential."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from complaints.domain import ASSIGNED_EVENT, OPENED_EVENT
from complaints.handlers import roster_entry
from complaints.publishing import SOURCE, case_changed, case_event, once_per_case_id, uuid5_text
from hospital_shared.codec import InvalidEvent, decode, encode
from hospital_shared.events import make_event
from hospital_shared.service_events.followup import StaffMemberSaved

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
CASE: dict[str, Any] = {
    "id": 1,
    "case_number": "TS-20261123-0007",
    "status": "received",
    "cycle": 1,
    "channel": "phone",
    "external_id": "PHONE-1",
    "category": "billing",
    "category_source": "rule",
    "priority": "normal",
    "serious": False,
    "complex": False,
    "department_code": "CARD",
    "assignee_id": "S-DOC-01",
    "supervisor_id": "S-SUP-01",
    "patient_id": "P000001",
    "patient_name": "张三",
    "patient_phone": "13800138000",
    "sms_opt_out": False,
    "resolution_kind": None,
    "description": "多收了我200元",
    "resolution": None,
}
DEADLINES = [
    {
        "cycle": 1,
        "limit_name": "first_response",
        "starts_at": NOW,
        "due_at": NOW + timedelta(hours=24),
        "warn_at": NOW + timedelta(hours=19.2),
        "settled_at": None,
        "outcome": None,
    }
]


def test_the_opened_event_promises_the_response_time_and_carries_no_complaint_text() -> None:
    data = case_changed(
        CASE, DEADLINES, previous_status=None, actor_id="S-AGENT-01", actor_role="agent", at=NOW
    )
    event = make_event(
        "complaint.case_opened", data, source=SOURCE, subject=CASE["case_number"], time=NOW
    )
    raw = encode(event)
    back = decode(raw, expected_topic="complaints.cases.v1")
    assert back.data.promised_response_by == NOW + timedelta(hours=24)
    assert back.data.patient.phone == "13800138000"
    text = raw.decode()
    assert "多收" not in text and "张三" not in text


def test_roster_events_are_read_from_the_follow_up_contract() -> None:
    saved = StaffMemberSaved(
        staff_id="S-1", name="王", department_code="ORTH", role="doctor", capacity=5, active=False
    )
    assert roster_entry(saved) == ("S-1", "ORTH", "doctor", False)
    event = make_event("staff.member_saved", saved, source="urn:t", subject="S-1", time=NOW)
    assert roster_entry(decode(encode(event)).data) == ("S-1", "ORTH", "doctor", False)
    # A roster change without a department never reaches the handler: the contract refuses it.
    doc = json.loads(encode(event))
    del doc["data"]["department_code"]
    with pytest.raises(InvalidEvent, match=r"data\.department_code"):
        decode(json.dumps(doc).encode())


def _opened_id(case: dict[str, Any], at: datetime, event_type: str = OPENED_EVENT) -> str:
    event_id, *_ = case_event(
        event_type, case, DEADLINES, previous=None, actor_id="S-AGENT-01",
        actor_role="agent", at=at,
    )  # fmt: skip
    return event_id


def test_a_case_opened_again_by_a_replay_keeps_its_event_id() -> None:
    """After a restore the replay opens the case again, later and perhaps under another case
    number: the same id, so the metrics and notifications inboxes skip the second event."""
    again = CASE | {"id": 99, "case_number": "TS-20261123-0011"}
    assert _opened_id(CASE, NOW) == _opened_id(again, NOW + timedelta(minutes=7))
    other = CASE | {"external_id": "PHONE-2"}
    assert _opened_id(CASE | {"external_id": "PHONE-1"}, NOW) != _opened_id(other, NOW)


def test_an_escalation_to_the_director_done_again_by_a_replay_keeps_its_event_id() -> None:
    """A serious case goes to the director as it opens: after a restore the replay escalates
    it again under another case number; the same id, else metrics counted a second case (the
    restore run's KPI reports differed by one case in two departments)."""
    escalated = "complaint.case_escalated"
    again = CASE | {"id": 99, "case_number": "TS-20261123-0011"}
    assert _opened_id(CASE, NOW, escalated) == _opened_id(
        again, NOW + timedelta(minutes=7), escalated
    )
    assert _opened_id(CASE, NOW, escalated) != _opened_id(CASE, NOW)
    assert _opened_id(CASE, NOW, escalated) != _opened_id(CASE | {"cycle": 2}, NOW, escalated)


def test_a_staff_action_gets_an_event_id_of_its_own_each_time() -> None:
    ids = {
        case_event(
            ASSIGNED_EVENT,
            CASE,
            DEADLINES,
            previous="received",
            actor_id="S-SUP-01",
            actor_role="supervisor",
            at=NOW,
        )[0]
        for _ in range(2)
    }
    assert len(ids) == 2


@pytest.mark.parametrize(
    "name",
    [
        "",
        "complaint.case_opened:phone:PHONE-1:1",
        "complaint.case_escalated:online:投诉-七:2",
        "x" * 300,
    ],
)
def test_the_ids_of_once_per_case_events_are_rfc_4122_version_5(name: str) -> None:
    """`uuid5_text` gives what `uuid.uuid5` gives, so the ids of openings and escalations
    stay what they were (a replay after a restore must give the same ones)."""
    namespace = uuid.UUID("0f7d3c1e-52b4-4b8e-9a0c-6d2a41c9e7b3")
    assert uuid5_text(namespace.bytes, name) == str(uuid.uuid5(namespace, name))
    case = {"channel": "phone", "external_id": "PHONE-1"}
    assert once_per_case_id(OPENED_EVENT, case, 1) == str(
        uuid.uuid5(namespace, f"{OPENED_EVENT}:phone:PHONE-1:1")
    )
