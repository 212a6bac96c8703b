"""Every list's cursor reader, in every service, refuses a hand-edited position with the 422
naming `cursor` (`read_position`), never passing PostgreSQL a value it refuses (a 500): an id
past `bigint` (`{"id": 2**63}`, `{"id": 10**30}`), a float, a string, or a text key with a NUL
or a lone surrogate. The complaints lists' readers are also checked on the real service
(tests/integration/test_enquiries_service.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import HTTPException

from complaints import api as complaints_api
from complaints import enquiries_api
from followup import api as followup_api
from hospital_shared import access_watch
from hospital_shared.http_api import MAX_ID, PageRequest, position_id, position_text
from notifications import duty_api, routes
from registration import patients, visits

WHEN = "2026-01-02T00:00:00+00:00"


def forged(position: dict[str, Any]) -> PageRequest:
    """A page request whose cursor holds `position` as JSON (written by hand, not by us)."""
    raw = json.dumps(position, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return PageRequest(limit=10, cursor=base64.urlsafe_b64encode(raw).decode().rstrip("="))


# (a list's reader, a good position of it, its id or text key)
READERS: list[tuple[Callable[[PageRequest], Any], dict[str, Any], str]] = [
    (enquiries_api._before, {"id": 5}, "id"),
    (complaints_api._before, {"opened_at": WHEN, "id": 5}, "id"),
    (access_watch._before, {"at": WHEN, "id": 5}, "id"),
    (routes.id_after, {"id": 5}, "id"),
    (duty_api._after, {"starts_at": WHEN, "id": 5}, "id"),
    (followup_api._after, {"due_at": WHEN, "task_id": "T-1"}, "task_id"),
    (patients._after, {"last_seen": WHEN, "patient_id": "P-1"}, "patient_id"),
    (
        visits._visit_after,
        {"updated_at": WHEN, "kind": "outpatient", "visit_id": "V-1"},
        "visit_id",
    ),
]
NOT_IDS = (2**63, 10**30, 1e400, 5.0, "5", True, 0, -1, None)
NOT_TEXT = ("T\x00-1", "T-\ud800", 5, None)


@pytest.mark.parametrize(("reader", "good", "key"), READERS)
def test_a_hand_edited_position_is_a_422_naming_the_cursor(
    reader: Callable[[PageRequest], Any], good: dict[str, Any], key: str
) -> None:
    assert reader(forged(good)) is not None
    for bad in NOT_IDS if key == "id" else NOT_TEXT:
        with pytest.raises(HTTPException) as refused:
            reader(forged(good | {key: bad}))
        assert refused.value.status_code == 422, bad
        assert refused.value.detail[0]["loc"] == ["query", "cursor"]


def test_an_id_is_a_whole_number_a_bigint_holds_and_a_key_text_postgresql_stores() -> None:
    assert position_id(1) == 1 and position_id(MAX_ID) == MAX_ID
    assert position_text("P-1") == "P-1" and position_text("王五") == "王五"
    for not_id in (MAX_ID + 1, 0, 1.0, "1", False):
        with pytest.raises(ValueError):
            position_id(not_id)
    for not_text in ("a\x00", "\udc80", 1):
        with pytest.raises(ValueError):
            position_text(not_text)
