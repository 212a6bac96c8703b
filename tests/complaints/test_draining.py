"""The consumer tells the time-limit timer when a backlog of complaints is being opened, so
the timer's catch-up waits between passes instead of competing with the openings."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from complaints.handlers import ComplaintHandlers, utc_now
from complaints.policy import CasePolicy, default_rules
from complaints.rulebook import RuleBook
from hospital_shared.events import RegistrationNoShow, make_event
from tests.factories import NOW


def handlers() -> ComplaintHandlers:
    async def no_numbers(_: object) -> dict[object, range]:
        raise AssertionError("nothing to number")

    policy = CasePolicy(limit_rules=default_rules(), tz=ZoneInfo("Asia/Shanghai"))
    return ComplaintHandlers(policy, RuleBook(), allocate_many=no_numbers, clock=utc_now)


def events(n: int) -> list[object]:
    return [
        make_event(
            "registration.no_show",
            RegistrationNoShow(registration_id=f"R{i}"),
            source="urn:test",
            subject=f"R{i}",
            time=NOW,
        )
        for i in range(n)
    ]


async def test_a_large_batch_means_a_backlog_is_being_opened_for_a_second() -> None:
    h = handlers()
    await h.handle_batch(None, events(ComplaintHandlers.BACKLOG_BATCH - 1))  # type: ignore[arg-type]
    assert not h.draining()
    await h.handle_batch(None, events(ComplaintHandlers.BACKLOG_BATCH))  # type: ignore[arg-type]
    assert h.draining()
    assert not h.draining(within_s=0)
