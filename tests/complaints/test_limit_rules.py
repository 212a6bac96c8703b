"""Which cases a limit applies to, when it is met, and the policy built from settings: the
rules the mutation run of `complaints/policy.py` found untested."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from complaints.domain import Category, Status
from complaints.policy import (
    CasePolicy,
    LimitName,
    LimitRule,
    deadlines_for,
    default_rules,
    limits_met_by,
    satisfaction_deadline,
)
from complaints.settings import Settings

TZ = ZoneInfo("Asia/Shanghai")
RULES = default_rules()
OPENED = datetime(2026, 11, 23, 10, tzinfo=TZ)


@pytest.mark.parametrize("category", [c for c in Category if c != Category.IMAGING_DISPUTE])
def test_only_an_imaging_dispute_gets_the_two_hour_imaging_confirmation(
    category: Category,
) -> None:
    """Billing and environment complaints (whose names sort before `imaging_dispute`) are no
    imaging disputes either: none but an imaging dispute gets the 2-hour confirmation."""
    for complex_ in (False, True):
        names = {
            d.name
            for d in deadlines_for(RULES, start=OPENED, complex_=complex_, category=category, tz=TZ)
        }
        assert LimitName.IMAGING_CONFIRMATION not in names, (category, complex_)


def test_the_satisfaction_check_warns_at_80_percent_of_its_seven_days_by_default() -> None:
    closed = datetime(2026, 11, 23, 15, tzinfo=TZ)
    check = satisfaction_deadline(RULES, closed_at=closed, tz=TZ)
    assert check is not None
    assert check.warn_at == closed + timedelta(days=7) * 0.8


@pytest.mark.parametrize("met_at", [Status.RECEIVED, Status.REOPENED, Status.WITHDRAWN])
def test_a_limit_set_to_be_met_off_the_main_line_is_never_met(met_at: Status) -> None:
    """Receiving, reopening or withdrawing a case answers the patient nothing: a limit a
    hospital sets to be met there is met by no step at all (it runs until it breaches)."""
    rule = LimitRule(LimitName.FIRST_RESPONSE, 24, "hours", "all", met_at)
    for reached in Status:
        assert limits_met_by([rule], reached) == [], reached


def test_the_case_policy_takes_the_hospitals_limits_from_its_settings() -> None:
    settings = Settings(
        hospital_tz="Asia/Urumqi",
        first_response_hours=12,
        fact_finding_working_days=2,
        warning_fraction=0.5,
        complex_categories=["billing"],
        serious_categories=["staff_attitude"],
        desk_department="KF",
        case_number_prefix="KS",
    )
    policy = CasePolicy.from_settings(settings)
    assert policy.tz == ZoneInfo("Asia/Urumqi")
    assert policy.complex_categories == ("billing",)
    assert policy.serious_categories == ("staff_attitude",)
    assert (policy.desk_department, policy.case_number_prefix) == ("KF", "KS")
    [first, _fact] = policy.opening_deadlines(OPENED, complex_=False, category=Category.BILLING)
    assert first.due_at == OPENED + timedelta(hours=12)
    assert first.warn_at == OPENED + timedelta(hours=6)


@pytest.mark.parametrize("days", [0, -1, 251])
def test_a_fact_finding_limit_of_no_working_days_or_over_a_year_is_refused_at_start(
    days: int,
) -> None:
    """A limit of zero or fewer working days would make every case's fact-finding due the
    moment it opens, one of more than a working year is a typo: the service refuses the
    setting, naming it."""
    with pytest.raises(ValidationError, match="fact_finding_working_days"):
        Settings(fact_finding_working_days=days)
