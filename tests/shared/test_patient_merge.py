"""`following_merges`: the order of a batch around a merge, the moves run once, later events
mapped, a refused merge raised with its reason. A fake connection keeps the aliases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from hospital_shared.events import CloudEvent, Patient, RegistrationCreated, make_event
from hospital_shared.patient_merge import MergeNotApplied, following_merges
from hospital_shared.service_events.registration import PatientsMerged

NOW = datetime(2026, 12, 5, 2, 30, tzinfo=UTC)
MOVE = "UPDATE tasks SET patient_id = $2 WHERE patient_id = $1"


class FakeConn:
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.moves: list[tuple[str, str]] = []

    async def execute(self, sql: str, *args: Any) -> str:
        if sql == MOVE:
            self.moves.append((args[0], args[1]))
        elif sql.startswith("UPDATE patient_aliases"):
            self.aliases = {k: (args[1] if v == args[0] else v) for k, v in self.aliases.items()}
        elif sql.startswith("INSERT INTO patient_aliases"):
            self.aliases[args[0]] = args[1]
        return "UPDATE 1"

    async def fetch(self, sql: str, ids: list[str]) -> list[dict[str, str]]:
        return [
            {"merged_id": k, "surviving_id": v}
            for k, v in self.aliases.items()
            if k in ids or v in ids
        ]


def visit(patient_id: str) -> CloudEvent[Any]:
    data = RegistrationCreated(
        registration_id=f"R-{patient_id}",
        patient=Patient(patient_id=patient_id, name="张三", phone="+8613800138000"),
        department={"code": "CARD", "name": "心内科"},  # type: ignore[arg-type]
        visit_type="first",  # type: ignore[arg-type]
        channel="onsite",  # type: ignore[arg-type]
        registered_at=NOW,
    )
    return make_event("registration.created", data, source="t", subject=patient_id, time=NOW)


def merge(merged: str, surviving: str) -> CloudEvent[Any]:
    data = PatientsMerged(surviving_patient_id=surviving, merged_patient_id=merged, merged_at=NOW)
    return make_event("patient.merged", data, source="t", subject=merged, time=NOW)


async def test_events_before_a_merge_run_first_and_those_after_it_name_the_survivor() -> None:
    conn = FakeConn()
    seen: list[list[str]] = []

    async def handler(_: Any, events: Sequence[CloudEvent[Any]]) -> None:
        seen.append([e.data.patient.patient_id for e in events])

    handle = following_merges(handler, [MOVE])
    await handle(conn, [visit("OLD"), merge("OLD", "NEW"), visit("OLD"), visit("OTHER")])
    assert seen == [["OLD"], ["NEW", "OTHER"]]
    assert conn.moves == [("OLD", "NEW")]
    assert conn.aliases == {"OLD": "NEW"}

    await handle(conn, [merge("OLD", "NEW")])  # resent under another event id
    assert conn.moves == [("OLD", "NEW")]

    await handle(conn, [merge("NEW", "LAST")])  # a chain
    assert conn.aliases == {"OLD": "LAST", "NEW": "LAST"}
    assert conn.moves == [("OLD", "NEW"), ("NEW", "LAST")]


async def test_a_conflicting_merge_is_raised_with_its_reason_and_moves_nothing() -> None:
    conn = FakeConn()

    async def handler(_: Any, events: Sequence[CloudEvent[Any]]) -> None:
        return None

    handle = following_merges(handler, [MOVE])
    await handle(conn, [merge("OLD", "NEW")])
    with pytest.raises(MergeNotApplied, match="already merged into another patient"):
        await handle(conn, [merge("OLD", "ELSEWHERE")])
    assert conn.moves == [("OLD", "NEW")]
