"""Recount the running working-day limits when operations enter (or change) a calendar year.

A deadline counted over a year without schedule took it as Monday to Friday
(`policy.Deadline.missing_years`): a case lodged just before the Spring Festival of a year not
yet entered is due on a holiday. Saving that year recounts, by the new calendar, every running
working-day deadline of an open case whose count ran over the year (began before its end,
falls due after its start): due and warning times move, the timers use them from their next
pass, and each move is a line of the case's written record (`deadline_recounted`) saying from
when to when and why. Closed and withdrawn cases and settled limits are left as they were, and
so are alerts already fired (a warning or escalation that went out stays in the record).

It runs in the transaction that saves the year (calendar_api.save_year): the year, its event
and every recount commit together or not at all, so a crash midway leaves nothing half done,
and saving the year again finishes it. Recounting is idempotent: a deadline already counted
by the calendar in force counts to the same times and is neither moved nor recorded again.
Each recount counts the same number of working days as the stored deadline had by the
calendar it was counted with, so a setting changed since does not lengthen a running limit.

Another instance may count a case without the year between the save and its next reload; the
save lifted only the flags of the cases it locked, so that case keeps its flag, and every
instance's reload recounts the open cases still flagged for a year it has (`recount_flagged`).
Limits in hours or days (the first response, enquiries' answers) are wall-clock and not
counted in working days, so they never move.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from complaints import repository
from complaints.policy import CasePolicy, Deadline, LimitName, add_working_days
from hospital_shared.failpoints import failpoint
from hospital_shared.working_calendar import WorkingCalendar

RECOUNTED = "deadline_recounted"
RELOAD_ACTOR = ("system:calendar", "system")


def counted_days(calendar: WorkingCalendar, start: datetime, due: datetime, tz: ZoneInfo) -> int:
    """How many working days `calendar` counts after `start`'s local day up to `due`'s: the
    amount a deadline was given, whatever the setting says now (pure)."""
    first, last = start.astimezone(tz).date(), due.astimezone(tz).date()
    days = (last - first).days
    return sum(calendar.is_workday(first + timedelta(days=n)) for n in range(1, days + 1))


def recounted(
    policy: CasePolicy,
    *,
    before: WorkingCalendar,
    after: WorkingCalendar,
    running: list[dict[str, Any]],
) -> list[tuple[dict[str, Any], Deadline]]:
    """The running deadlines (rows of `case_deadlines`) that `after` counts to other times
    than `before` did, each with its new count: the same number of working days from the same
    start, by the other calendar (pure)."""
    moved = []
    for row in running:
        start = row["starts_at"]
        amount = counted_days(before, start, row["due_at"], policy.tz)
        due, missing = add_working_days(start, amount, tz=policy.tz, calendar=after)
        warn = start + (due - start) * policy.warning_fraction
        if (due, warn) != (row["due_at"], row["warn_at"]):
            moved.append((row, Deadline(LimitName(row["limit_name"]), start, due, warn, missing)))
    return moved


async def recount_year(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    year: int,
    *,
    before: WorkingCalendar,
    after: WorkingCalendar,
    actor: tuple[str, str],
    at: datetime,
    only_flagged: bool = False,
) -> int:
    """Recount by `after` (the calendar with `year` as saved) the running working-day
    deadlines of open cases that `before` counted over `year` (`only_flagged`: of the cases
    flagged for the year only); returns how many moved. Call it inside a transaction."""
    flagged = await repository.lock_cases_flagged_for(conn, year)
    running = await repository.running_deadlines_counted_over(
        conn,
        [r.name.value for r in policy.limit_rules if r.unit == "working_days"],
        first=datetime(year, 1, 1, tzinfo=policy.tz),
        after=datetime(year + 1, 1, 1, tzinfo=policy.tz),
        of_cases=flagged if only_flagged else None,
    )
    moved = recounted(policy, before=before, after=after, running=running)
    await repository.move_deadlines(conn, [(r["case_id"], r["cycle"], d) for r, d in moved])
    failpoint("calendar.recount.midway")  # the fault tests: deadlines moved, no record yet
    await repository.append_audits(conn, [_record(r, d, year, actor, at) for r, d in moved])
    await repository.unflag_calendar_year(conn, year, flagged)
    # A count that now runs into another year still missing says so, as when it was opened.
    await repository.flag_missing_calendar(conn, [(r["case_id"], r["cycle"], d) for r, d in moved])
    return len(moved)


async def recount_flagged(
    pool: asyncpg.Pool, policy: CasePolicy, calendar: WorkingCalendar, *, at: datetime
) -> int:
    """Recount the open cases still flagged for a year `calendar` has: counted Monday to
    Friday by an instance that had not reloaded the year another had just saved (saving
    lifted the flags of the cases there were then). Run after each reload; a no-op when
    none is flagged (one look through the partial index)."""
    moved = 0
    async with pool.acquire() as conn:
        years = await repository.calendar_years_open_cases_await(conn, known=calendar.years)
        for year in years:
            without = WorkingCalendar({y: s for y, s in calendar.years.items() if y != year})
            async with conn.transaction():
                moved += await recount_year(
                    conn, policy, year, before=without, after=calendar, actor=RELOAD_ACTOR,
                    at=at, only_flagged=True,
                )  # fmt: skip
    return moved


def _record(
    row: dict[str, Any], new: Deadline, year: int, actor: tuple[str, str], at: datetime
) -> repository.AuditEntry:
    return repository.AuditEntry(
        case_id=row["case_id"], at=at, actor_id=actor[0], actor_role=actor[1], action=RECOUNTED,
        from_status=row["status"], to_status=row["status"],
        detail={"limit": row["limit_name"], "cycle": row["cycle"], "calendar_year": year,
                "from": row["due_at"], "to": new.due_at, "warn_at": new.warn_at},
    )  # fmt: skip
