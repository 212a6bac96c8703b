"""A survey's one reminder on the real stack (Kafka, PostgreSQL, Kannel, notifications): it
reaches the patient who has not answered, with the invitation's link, once; it never reaches
one who answered first, nor one whose visit was cancelled, nor one reported dead (even when
the report is taken back), nor one who answered on the visit's other link (sent after an
unreachable call). Visits at one moment, so that when the first's reminder has come the
others' were due as well."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from hospital_shared import topics
from tests import factories
from tests.integration.services import RunningService, running_all
from tests.integration.test_notifications_sms import send_events, sms_received
from tests.integration.test_survey_by_sms_link import ENV as SURVEY_ENV
from tests.integration.test_survey_by_sms_link import LINK, csrf_of, unreachable_call
from tests.kafka_tools import eventually

REMINDER_AFTER_S = 30
ENV = {
    **SURVEY_ENV,
    "NOTIFICATIONS_SURVEY_REMINDER_AFTER_H": str(REMINDER_AFTER_S / 3600),
    "NOTIFICATIONS_SURVEY_REMINDER_SCAN_S": "1",
}
# Each poll reads the operator's whole log, blocking the loop both cases share.
SMS_POLL_S = 0.5
INVITED = "请花1分钟评价"  # the invitation's text (templates.py)
REMINDED = "还未填写"  # the reminder's


@pytest.fixture(scope="module")
def services(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, ["notifications"], {"notifications": ENV}) as s:
        yield s


def texts_to(stack_config: Any, n: int, marker: str) -> list[str]:
    return [t for to, t in sms_received(stack_config, marker) if to.endswith(f"{n:08d}")]


async def reminder_rows(stack_env: dict[str, str], registration_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        return await conn.fetch(
            "SELECT status, status_reason FROM notifications.messages"
            " WHERE subject_ref = $1 AND template = 'patient_survey_reminder'",
            f"registration:{registration_id}",
        )
    finally:
        await conn.close()


async def test_the_reminder_goes_to_who_has_not_answered_on_either_link_only(
    services: dict[str, RunningService], stack_config: Any, stack_env: dict[str, str]
) -> None:
    """Both cases below at once: each waits for its reminder (REMINDER_AFTER_S), so one after
    the other they took a minute of the suite. A failure names its case; the other case is
    then cancelled."""
    cases = {
        "answered, cancelled or dead": _answered_cancelled_and_dead_are_not_reminded,
        "answered on the link after an unreachable call": _an_answer_on_the_other_link,
    }
    async with asyncio.TaskGroup() as both:
        for name, case in cases.items():
            both.create_task(_named(name, case(stack_config, stack_env)))


async def _named(name: str, case: Coroutine[Any, Any, None]) -> None:
    try:
        await case
    except Exception as exc:
        exc.add_note(f"case: {name}")
        raise


async def _answered_cancelled_and_dead_are_not_reminded(
    stack_config: Any, stack_env: dict[str, str]
) -> None:
    base = uuid.uuid4().int % 10**7 * 10
    unanswered, answered, cancelled, revived = base + 1, base + 2, base + 3, base + 4
    now = datetime.now(UTC)
    visits = [
        factories.registration(
            n,
            registration_id=f"SR{n}",
            patient=factories.patient(n, phone=f"139{n:08d}"),
            department={"code": "IM", "name": "内科"},
            visit_type="return",
            registered_at=(now - timedelta(hours=1)).isoformat(),
            appointment_at=now.isoformat(),  # the invitation now, its reminder 30 s later
        )
        for n in (unanswered, answered, cancelled, revived)
    ]
    await send_events(stack_env, topics.REGISTRATIONS, *visits)

    def links() -> dict[int, str] | None:
        found = {}
        for n in (unanswered, answered, cancelled, revived):
            got = [m.group(1) for t in texts_to(stack_config, n, INVITED) if (m := LINK.search(t))]
            if got:
                found[n] = got[0]
        return found if len(found) == 4 else None

    invited = await eventually(links, timeout=60, interval=SMS_POLL_S)
    assert datetime.now(UTC) < now + timedelta(seconds=REMINDER_AFTER_S), "too slow to test"

    # one patient answers, another's visit is cancelled, before their reminders are due
    async with httpx.AsyncClient(timeout=30) as client:
        form = await client.get(invited[answered])
        page = await client.post(
            invited[answered], data={"csrf": csrf_of(form), "v": "1", "q.overall": "satisfied"}
        )
        assert page.status_code == 200, page.text[:300]
    cancel = factories.envelope(
        "registration.cancelled",
        {"registration_id": f"SR{cancelled}", "cancelled_at": now.isoformat()},
        subject=f"P{cancelled:06d}",
    )
    await send_events(stack_env, topics.REGISTRATIONS, cancel)
    # another is reported dead, then the report is taken back: the death withdrew what waited
    # for good, the reminder to come too
    death = factories.discharge(
        revived, admission_id=f"SA{revived}", disposition="deceased",
        patient=factories.patient(revived, phone=f"139{revived:08d}"),
    )  # fmt: skip
    await send_events(stack_env, topics.DISCHARGES, death)
    taken_back = factories.envelope(
        "discharge.cancelled", {"admission_id": f"SA{revived}"}, subject=f"P{revived:06d}"
    )
    await send_events(stack_env, topics.DISCHARGES, taken_back)
    assert datetime.now(UTC) < now + timedelta(seconds=REMINDER_AFTER_S), "too slow to test"

    # the one who did not answer is reminded, with the invitation's link
    def reminded() -> list[str] | None:
        return texts_to(stack_config, unanswered, REMINDED) or None

    (text,) = await eventually(reminded, timeout=90, interval=SMS_POLL_S)
    match = LINK.search(text)
    assert match is not None and match.group(1) == invited[unanswered]
    assert [r["status"] for r in await reminder_rows(stack_env, f"SR{unanswered}")] in (
        ["submitted"], ["delivered"],
    )  # fmt: skip

    # the others were due as well: none got one, and nothing of theirs waits to go
    # (a reminder made before the answer or the cancellation is withdrawn by it)
    done = ((answered, "survey_answered"), (cancelled, "cancelled"), (revived, "patient_deceased"))
    for n, reason in done:
        assert texts_to(stack_config, n, REMINDED) == []
        rows = await reminder_rows(stack_env, f"SR{n}")
        assert all(r["status"] == "withdrawn" and r["status_reason"] == reason for r in rows), rows
    # and the reminder is not made twice, however often the job passes
    assert len(texts_to(stack_config, unanswered, REMINDED)) == 1
    assert len(await reminder_rows(stack_env, f"SR{unanswered}")) == 1


async def _an_answer_on_the_other_link(stack_config: Any, stack_env: dict[str, str]) -> None:
    """The visit's survey is answered on the other link it has (the follow-up call failed,
    and the patient was sent one of its own): its reminder is not sent either."""
    base = uuid.uuid4().int % 10**7 * 10
    control, answered = base + 1, base + 2
    now = datetime.now(UTC)
    await send_events(stack_env, topics.REGISTRATIONS, *(
        factories.registration(
            n, registration_id=f"SU{n}", patient=factories.patient(n, phone=f"139{n:08d}"),
            department={"code": "IM", "name": "内科"}, visit_type="return",
            registered_at=(now - timedelta(hours=1)).isoformat(), appointment_at=now.isoformat(),
        )
        for n in (control, answered)
    ))  # fmt: skip
    await unreachable_call(
        stack_env, task_id=f"T-SU{answered}", kind="outpatient_visit",
        patient_id=f"P{answered:06d}", department_code="IM", source_ref=f"SU{answered}",
        patient_phone=f"139{answered:08d}",
    )  # fmt: skip

    def other_link() -> str | None:
        texts = texts_to(stack_config, answered, "未能电话联系")
        found = [m.group(1) for t in texts if (m := LINK.search(t))]
        return found[0] if found else None

    link = await eventually(other_link, timeout=60, interval=SMS_POLL_S)
    async with httpx.AsyncClient(timeout=30) as client:
        form = await client.get(link)
        page = await client.post(
            link, data={"csrf": csrf_of(form), "v": "1", "q.overall": "satisfied"}
        )
        assert page.status_code == 200, page.text[:300]
    assert datetime.now(UTC) < now + timedelta(seconds=REMINDER_AFTER_S), "too slow to test"

    def reminded() -> list[str] | None:
        return texts_to(stack_config, control, REMINDED) or None

    # the reminders of that moment are due and made
    await eventually(reminded, timeout=90, interval=SMS_POLL_S)
    assert texts_to(stack_config, answered, REMINDED) == []
    rows = await reminder_rows(stack_env, f"SU{answered}")
    assert all(r["status"] == "withdrawn" for r in rows), rows
