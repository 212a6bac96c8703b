"""Which deadlines a recount moves, on the real PostgreSQL with complaints' migrations
(recount.py): each working-day deadline carries the calendar it was counted with
(`case_deadlines.calendar_counted`: per year, the schedule's stamp, null for a year counted
Monday to Friday), and the save and the reload pick deadlines by that, not by a flag on the
case.

- A case lodged while 2027 was missing, closed, then reopened after 2027 was saved: its new
  fact-finding limit was counted with 2027, and the reload must leave it alone (the case's old
  flag made the reload recount it as if Monday to Friday: due 2027-02-22 instead of 2-16).
- A corrected 2027 saved elsewhere while this instance still counted by the old one: the reload
  recounts the deadlines counted with the old 2027 (nothing flagged them before).
- Both queries read through indexes, also as the generic plan a prepared statement settles on.

The 2027 schedule is TEST DATA (tests/data/calendar-2027.json), not the State Council's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from complaints import cases, recount, repository
from complaints.access import Actor
from complaints.intake import NewComplaint, number_allocator, open_case
from complaints.policy import CasePolicy, add_working_days, bundled_calendar, default_rules
from complaints.rulebook import category_rules
from hospital_shared.calendar_store import save_schedule
from hospital_shared.working_calendar import WorkingCalendar, YearSchedule, schedule_from_mapping
from tests.integration.schemas import schema_pool
from tests.integration.test_complaint_reopen_clocks import seed
from tests.integration.test_phone_search_indexed import scans
from tests.integration.test_working_calendar import TEST_2027

TZ = ZoneInfo("Asia/Shanghai")
AGENT = Actor("S-CAL-01", "agent", "CS")
SUPERVISOR = Actor("S-CAL-SUP", "supervisor", "CS")
LODGED = datetime(2026, 12, 1, 10, tzinfo=TZ)
YEAR_2027 = schedule_from_mapping({"year": 2027, **TEST_2027})
# 2027 corrected: Mon 1-4 off as well (TEST DATA).
CORRECTED_2027 = schedule_from_mapping(
    {"year": 2027, **TEST_2027, "holidays": ["2027-01-04", *TEST_2027["holidays"]]}
)


class Instance:
    """One complaints instance's calendar in force (what `LiveCalendar.current` would be)."""

    def __init__(self) -> None:
        self.calendar = bundled_calendar()
        self.policy = CasePolicy(
            limit_rules=default_rules(fact_finding_working_days=50), tz=TZ,
            calendar=lambda: self.calendar,
        )  # fmt: skip

    def reloads(self, *years: YearSchedule) -> None:
        self.calendar = WorkingCalendar.of([*bundled_calendar().years.values(), *years])


@pytest.fixture
async def pool(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    async with schema_pool(stack_env["DATABASE_URL"], "recountcw", "complaints") as pool:
        await seed(pool, AGENT, SUPERVISOR)
        yield pool


async def lodge(pool: asyncpg.Pool, instance: Instance) -> Any:
    complaint = NewComplaint(
        channel="phone", external_id=uuid.uuid4().hex, description="候诊排队等了三个小时",
        submitted_at=LODGED, category="waiting_time", department_code="CS",
    )  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        case, _ = await open_case(
            conn, instance.policy, await category_rules(conn), complaint,
            allocate=number_allocator(lambda: pool), actor=AGENT, now=LODGED,
        )  # fmt: skip
    return case


async def step(
    pool: asyncpg.Pool, instance: Instance, number: str, to: str, at: datetime, **extra: Any
) -> None:
    who = SUPERVISOR if to in ("resolution_approved", "summary_signed_off") else AGENT
    async with pool.acquire() as conn, conn.transaction():
        await cases.transition(conn, instance.policy, number, to=to, actor=who, now=at, **extra)


async def fact_finding(pool: asyncpg.Pool, case_id: int) -> asyncpg.Record:
    """The case's running fact-finding deadline."""
    async with pool.acquire() as conn:
        return await conn.fetchrow(
            "SELECT * FROM case_deadlines WHERE case_id = $1 AND limit_name = 'fact_finding'"
            " AND settled_at IS NULL",
            case_id,
        )


async def recount_lines(pool: asyncpg.Pool, case_id: int) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT * FROM case_audit WHERE case_id = $1 AND action = $2",
            case_id,
            recount.RECOUNTED,
        )


async def saved_elsewhere(pool: asyncpg.Pool, schedule: YearSchedule) -> None:
    """The year as another instance's PUT leaves it in the table (its own recount ran there)."""
    async with pool.acquire() as conn:
        await save_schedule(conn, schedule, by="S-ADMIN-01")


async def test_a_reopened_case_counted_with_the_year_is_not_recounted_for_its_old_flag(
    pool: asyncpg.Pool,
) -> None:
    instance = Instance()
    assert not instance.calendar.knows(2027)
    case = await lodge(pool, instance)
    number, t = case["case_number"], LODGED
    assert case["calendar_missing_years"] == [2027]
    for to, extra in (
        ("acknowledged", {}), ("investigating", {}),
        ("resolution_proposed", {"resolution": "优化叫号", "resolution_kind": "apology"}),
        ("resolution_approved", {}), ("resolution_implemented", {}), ("communicated", {}),
        ("summary_signed_off", {"note": "已处理"}), ("closed", {}),
    ):  # fmt: skip
        t += timedelta(minutes=5)
        await step(pool, instance, number, to, t, **extra)

    # 2027 saved while the case is closed (a save's recount skips it), then it is reopened.
    await saved_elsewhere(pool, YEAR_2027)
    instance.reloads(YEAR_2027)
    reopened_at = datetime(2026, 12, 20, 10, tzinfo=TZ)
    await step(pool, instance, number, "reopened", reopened_at, note="患者不认可")
    running = await fact_finding(pool, case["id"])
    counted, _ = add_working_days(running["starts_at"], 50, tz=TZ, calendar=instance.calendar)
    assert running["due_at"] == counted

    moved = await recount.recount_flagged(pool, instance.policy, instance.calendar, at=t)
    assert moved == 0
    assert (await fact_finding(pool, case["id"]))["due_at"] == counted
    assert await recount_lines(pool, case["id"]) == []


async def test_a_corrected_year_saved_elsewhere_is_recounted_at_reload(
    pool: asyncpg.Pool,
) -> None:
    """This instance still counts by the first 2027 when another saves the corrected one: the
    case it opens then is not flagged (2027 was known), and only its counted-with says so."""
    await saved_elsewhere(pool, YEAR_2027)
    instance = Instance()
    instance.reloads(YEAR_2027)
    await saved_elsewhere(pool, CORRECTED_2027)  # the other instance's save and recount
    case = await lodge(pool, instance)
    assert case["calendar_missing_years"] == []
    assert (await fact_finding(pool, case["id"]))["due_at"] == datetime(2027, 2, 16, 10, tzinfo=TZ)

    instance.reloads(CORRECTED_2027)
    at = datetime(2026, 12, 1, 11, tzinfo=TZ)
    assert await recount.recount_flagged(pool, instance.policy, instance.calendar, at=at) == 1
    assert (await fact_finding(pool, case["id"]))["due_at"] == datetime(2027, 2, 17, 10, tzinfo=TZ)
    [line] = await recount_lines(pool, case["id"])
    assert line["actor_id"] == "system:calendar"
    # Done once: the next reload finds nothing to recount.
    assert await recount.recount_flagged(pool, instance.policy, instance.calendar, at=at) == 0
    assert len(await recount_lines(pool, case["id"])) == 1


# Settled history (many) and the open work (few), as a hospital's table has them after years.
HISTORY = """
INSERT INTO case_deadlines (case_id, cycle, limit_name, starts_at, due_at, warn_at, settled_at,
                            working_days, calendar_counted)
SELECT g, 1, l, t, t + interval '6 days', t + interval '5 days',
       CASE WHEN g > 2000 THEN t + interval '3 days' END,
       CASE WHEN l = 'fact_finding' THEN 4 END,
       CASE WHEN l = 'fact_finding' THEN '{"2026": "0123456789abcdef"}'::jsonb END
  FROM generate_series(1, 100000) AS g,
       unnest(ARRAY['first_response', 'fact_finding']) AS l,
       LATERAL (SELECT timestamptz '2026-01-01' + g * interval '5 minutes' AS t) AS s
"""
# Each query as its generic plan (what a prepared statement settles on after five runs).
PLANS = {
    "counted_over": (
        repository.CASES_COUNTED_OVER, "text[], timestamptz, timestamptz",
        "(ARRAY['fact_finding'], '2027-01-01', '2028-01-01')",
    ),
    "counted_otherwise": (
        repository.CASES_COUNTED_OTHERWISE, "text[], jsonb",
        """(ARRAY['fact_finding'], '{"2026": "0123456789abcdef"}')""",
    ),
    "running_of_cases": (
        repository.RUNNING_OF_CASES, "bigint[], text[]",
        "(ARRAY[5, 7]::bigint[], ARRAY['fact_finding'])",
    ),
}  # fmt: skip


async def test_the_save_and_the_reload_read_the_running_deadlines_by_index(
    pool: asyncpg.Pool,
) -> None:
    """Not the settled history: the save by due time among the running deadlines, the reload
    among the running ones with a record, the rows of the cases found by primary key."""
    async with pool.acquire() as conn:
        # Deadlines without cases: only their plans are looked at.
        await conn.execute("ALTER TABLE case_deadlines DISABLE TRIGGER case_deadlines_have_a_case")
        await conn.execute(HISTORY)
        await conn.execute("ANALYZE case_deadlines")
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        used = {}
        for name, (sql, types, args) in PLANS.items():
            await conn.execute(f"PREPARE {name}({types}) AS {sql}")
            plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE {name}{args}")
            read = [s for s in scans(json.loads(plan)) if "case_deadlines" in s]
            assert "Seq Scan case_deadlines" not in read, (name, read)
            used[name] = {s.rsplit(" ", 1)[1] for s in read if "Index Scan" in s}
    assert used == {
        "counted_over": {"case_deadlines_running_due"},
        "counted_otherwise": {"case_deadlines_running_counted"},
        "running_of_cases": {"case_deadlines_pkey"},
    }
