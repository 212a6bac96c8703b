"""The pure rules of a patient merge (ADT^A40) and of reading later events for a merged id."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from hospital_shared.events import Patient, RegistrationCreated, make_event
from hospital_shared.merge_rules import (
    AlreadyMerged,
    MergePlan,
    MergeRefused,
    aliases_after,
    current_id,
    plan_merge,
)
from hospital_shared.patient_merge import move_unique, with_aliases
from hospital_shared.service_events.registration import PatientsMerged

NOW = datetime(2026, 12, 5, 2, 30, tzinfo=UTC)


def test_a_first_merge_moves_the_old_id_to_the_survivor() -> None:
    assert plan_merge({}, merged="A", surviving="B") == MergePlan("A", "B")
    assert aliases_after({}, MergePlan("A", "B")) == {"A": "B"}


def test_a_chain_points_every_old_id_at_the_last_survivor() -> None:
    aliases = aliases_after({}, MergePlan("A", "B"))
    plan = plan_merge(aliases, merged="B", surviving="C")
    assert plan == MergePlan("B", "C", repointed=("A",))
    assert isinstance(plan, MergePlan)
    after = aliases_after(aliases, plan)
    assert after == {"A": "C", "B": "C"}
    assert current_id(after, "A") == current_id(after, "B") == "C"
    assert current_id(after, "C") == "C"


def test_a_merge_into_a_merged_id_goes_where_that_id_went() -> None:
    assert plan_merge({"B": "C"}, merged="A", surviving="B") == MergePlan("A", "C")


def test_a_merge_seen_again_changes_nothing() -> None:
    assert plan_merge({"A": "B"}, merged="A", surviving="B") == AlreadyMerged("A", "B")
    # resent after B itself was merged into C: A already points where B went
    assert plan_merge({"A": "C", "B": "C"}, merged="A", surviving="B") == AlreadyMerged("A", "C")


@pytest.mark.parametrize(
    ("aliases", "merged", "surviving", "why"),
    [
        ({}, "A", "A", "the same"),
        ({"B": "A"}, "A", "B", "itself merged into the merged id"),
        ({"A": "C"}, "A", "B", "already merged into another patient"),
    ],
)
def test_impossible_merges_are_refused_with_the_reason(
    aliases: dict[str, str], merged: str, surviving: str, why: str
) -> None:
    outcome = plan_merge(aliases, merged=merged, surviving=surviving)
    assert isinstance(outcome, MergeRefused)
    assert why in outcome.reason


def test_a_merge_event_with_the_same_id_both_sides_is_invalid() -> None:
    with pytest.raises(ValidationError, match="same id both sides"):
        PatientsMerged(surviving_patient_id="P1", merged_patient_id="P1", merged_at=NOW)


def test_an_event_for_a_merged_id_is_read_as_the_survivors() -> None:
    data = RegistrationCreated(
        registration_id="R1",
        patient=Patient(patient_id="OLD", name="张三", phone="+8613800138000"),
        department={"code": "CARD", "name": "心内科"},  # type: ignore[arg-type]
        visit_type="first",  # type: ignore[arg-type]
        channel="onsite",  # type: ignore[arg-type]
        registered_at=NOW,
    )
    event = make_event("registration.created", data, source="t", subject="OLD", time=NOW)
    mapped = with_aliases(event, {"OLD": "NEW"})
    assert mapped.subject == "NEW"
    assert mapped.data.patient.patient_id == "NEW"
    assert mapped.data.patient.name == "张三"
    assert with_aliases(event, {"OTHER": "NEW"}) is event


def test_a_unique_row_keeps_the_survivors_when_both_exist() -> None:
    drop, move = move_unique("call_opt_outs")
    assert drop.startswith("DELETE FROM call_opt_outs WHERE patient_id = $1")
    assert "EXISTS (SELECT 1 FROM call_opt_outs WHERE patient_id = $2)" in drop
    assert move == "UPDATE call_opt_outs SET patient_id = $2 WHERE patient_id = $1"


def fresh(text: str) -> str:
    """`text` as a new string object, as a decoded event gives it (not an interned literal)."""
    return "".join(list(text))


def test_ids_are_compared_by_value_whichever_way_they_sort() -> None:
    """Ids from events are new string objects that sort either way round: every rule decides
    by equality, never by order or identity (mutation survivors: `<=`, `>=`, `is`)."""
    z, a = fresh("P-Z"), fresh("P-A")
    assert plan_merge({}, merged=z, surviving=a) == MergePlan("P-Z", "P-A")
    assert plan_merge({}, merged=a, surviving=z) == MergePlan("P-A", "P-Z")
    same = plan_merge({}, merged=fresh("P-A"), surviving=fresh("P-A"))
    assert isinstance(same, MergeRefused) and "the same" in same.reason
    back = plan_merge({fresh("P-B"): fresh("P-A")}, merged=fresh("P-A"), surviving="P-B")
    assert isinstance(back, MergeRefused) and "itself merged" in back.reason
    again = plan_merge({"P-A": fresh("P-B")}, merged="P-A", surviving=fresh("P-B"))
    assert again == AlreadyMerged("P-A", "P-B")
    # merged earlier into an id that sorts before the survivor: still another patient
    other = plan_merge({"P-Z": "P-A"}, merged="P-Z", surviving="P-B")
    assert isinstance(other, MergeRefused) and "another patient" in other.reason


def test_only_aliases_of_the_merged_id_are_repointed() -> None:
    aliases = {"P-Y": "P-A", "P-W": "P-Z", "P-X": fresh("P-M")}
    plan = plan_merge(aliases, merged=fresh("P-M"), surviving="P-C")
    assert plan == MergePlan("P-M", "P-C", repointed=("P-X",))
    assert isinstance(plan, MergePlan)
    assert aliases_after(aliases, plan) == {
        "P-Y": "P-A",
        "P-W": "P-Z",
        "P-X": "P-C",
        "P-M": "P-C",
    }
