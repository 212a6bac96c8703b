"""Who a new case goes to: the least-loaded handler of the department concerned (ties to the
first staff id), else the desk's; serious cases to the supervisor. A batch of cases is spread
exactly as one-by-one openings would spread it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from complaints.assignment import Assignment, Member, Workload, assign
from complaints.policy import CasePolicy, default_rules

POLICY = CasePolicy(limit_rules=default_rules(), tz=ZoneInfo("Asia/Shanghai"))
ROSTER = [
    Member("S-CARD-A", "CARD", "doctor"),
    Member("S-CARD-B", "CARD", "agent"),
    Member("S-CARD-C", "CARD", "doctor"),
    Member("S-CARD-SUP", "CARD", "supervisor"),
    Member("S-DESK-AGENT", "CS", "agent"),
    Member("S-DESK-SUP", "CS", "supervisor"),
    Member("S-ORTHO-SUP", "ORTHO", "supervisor"),
]


def workload(**open_cases: int) -> Workload:
    return Workload(list(ROSTER), {k.replace("_", "-"): v for k, v in open_cases.items()})


def test_the_handler_with_the_fewest_open_cases_gets_the_case() -> None:
    load = workload(S_CARD_A=3, S_CARD_B=1, S_CARD_C=2)
    assert assign(POLICY, load, "CARD", serious=False) == Assignment(
        "S-CARD-B", "CARD", "S-CARD-SUP"
    )
    assert load.open_cases["S-CARD-B"] == 2  # the new case counts from now on


def test_a_batch_of_cases_is_spread_counting_the_cases_assigned_before_it() -> None:
    load = workload(S_CARD_A=2, S_CARD_B=0, S_CARD_C=1)
    chosen = [assign(POLICY, load, "CARD", serious=False).assignee_id for _ in range(5)]
    # B (0), then B and C tie at 1: the first staff id; then C; then all at 2: A first.
    assert chosen == ["S-CARD-B", "S-CARD-B", "S-CARD-C", "S-CARD-A", "S-CARD-B"]


def test_a_serious_case_goes_to_the_supervisor_at_once() -> None:
    load = workload()
    assert assign(POLICY, load, "CARD", serious=True) == Assignment(
        "S-CARD-SUP", "CARD", "S-CARD-SUP"
    )
    assert load.open_cases == {"S-CARD-SUP": 1}


def test_a_department_without_handlers_sends_the_case_to_the_desk() -> None:
    # Orthopaedics has a supervisor but no handler: the desk's agent handles it, under the
    # orthopaedics supervisor.
    assert assign(POLICY, workload(), "ORTHO", serious=False) == Assignment(
        "S-DESK-AGENT", "CS", "S-ORTHO-SUP"
    )
    # A department nobody knows, or none at all: the desk's agent and supervisor.
    for department in ("DERM", None):
        assert assign(POLICY, workload(), department, serious=False) == Assignment(
            "S-DESK-AGENT", "CS", "S-DESK-SUP"
        )


def test_with_nobody_on_the_roster_the_case_stays_unassigned() -> None:
    assert assign(POLICY, Workload([]), "CARD", serious=True) == Assignment(None, None, None)


def test_only_a_supervisor_on_the_roster_gets_every_case() -> None:
    load = Workload([Member("S-DESK-SUP", "CS", "supervisor")])
    assert assign(POLICY, load, "CARD", serious=False) == Assignment(
        "S-DESK-SUP", "CS", "S-DESK-SUP"
    )


def least_loaded_as_the_database_orders_it(
    load: dict[str, int], department: str, roles: set[str]
) -> str | None:
    """`ORDER BY open cases, staff_id LIMIT 1`, written independently of `Workload`."""
    candidates = sorted(
        (load.get(m.staff_id, 0), m.staff_id)
        for m in ROSTER
        if m.department_code == department and m.role in roles
    )
    return candidates[0][1] if candidates else None


@given(
    st.dictionaries(st.sampled_from([m.staff_id for m in ROSTER]), st.integers(0, 5)),
    st.lists(st.tuples(st.sampled_from(["CARD", "ORTHO", "CS", None]), st.booleans()), max_size=30),
)
def test_the_least_loaded_choice_is_the_databases_whatever_the_loads(
    loads: dict[str, int], cases: list[tuple[str | None, bool]]
) -> None:
    load = Workload(list(ROSTER), dict(loads))
    reference = dict(loads)
    for department, serious in cases:
        got = assign(POLICY, load, department, serious=serious)
        departments = [d for d in (department, "CS") if d]
        supervisor = next(
            (s for d in departments if (s := least_loaded_as_the_database_orders_it(
                reference, d, {"supervisor"}))),
            None,
        )  # fmt: skip
        handler = next(
            (h for d in departments if (h := least_loaded_as_the_database_orders_it(
                reference, d, {"agent", "doctor"}))),
            None,
        )  # fmt: skip
        expected = supervisor if serious and supervisor else handler or supervisor
        assert (got.assignee_id, got.supervisor_id) == (expected, supervisor)
        if expected:
            reference[expected] = reference.get(expected, 0) + 1


@pytest.mark.parametrize("roles", [["agent", "doctor"], ["supervisor"], ["nurse"]])
def test_roles_not_asked_for_are_never_chosen(roles: list[str]) -> None:
    chosen = workload().least_loaded("CARD", roles)
    assert chosen is None or next(m for m in ROSTER if m.staff_id == chosen).role in roles
