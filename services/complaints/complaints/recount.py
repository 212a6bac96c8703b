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

Each working-day deadline records how it was counted (`case_deadlines.working_days` and
`calendar_counted`: per year its count ran over, the stamp of the schedule it was counted with,
null for Monday to Friday), and recounts pick deadlines by that record, never by the case's
flag (a case closed and reopened kept the flag of its first cycle). Another instance may count
a deadline by a calendar a reload behind (a year saved or corrected elsewhere meanwhile):
every instance, after each reload, recounts the running deadlines counted with another
schedule of a year than the committed one (`recount_flagged`, actor `system:calendar`).
Limits in hours or days (the first response, enquiries' answers) are wall-clock and not
counted in working days, so they never move.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from complaints import repository
from complaints.policy import (
    CasePolicy,
    Deadline,
    LimitName,
    add_working_days,
    counted_with,
    year_stamp,
)
from hospital_shared.calendar_store import bundled_schedules, report_missing, saved_schedules
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
    """The running deadlines (rows of `case_deadlines`) that `after` counts to other times, or
    with other schedules, than they were counted, each with its new count: the same number of
    working days from the same start (the amount recorded, or else as `before` counted it,
    Monday to Friday for the years recorded so), by the other calendar (pure)."""
    changed = []
    for row in running:
        start, record = row["starts_at"], row.get("calendar_counted")
        amount = row.get("working_days")
        if amount is None:
            amount = counted_days(_as_counted(before, record), start, row["due_at"], policy.tz)
        due, missing = add_working_days(start, amount, tz=policy.tz, calendar=after)
        warn = start + (due - start) * policy.warning_fraction
        stamps = counted_with(after, start, due, policy.tz)
        name = LimitName(row["limit_name"])
        new = Deadline(name, start, due, warn, missing, amount, stamps)
        restamp = record is not None and record != {str(y): s for y, s in stamps}
        if (due, warn) != (row["due_at"], row["warn_at"]) or restamp:
            changed.append((row, new))
    return changed


def _as_counted(calendar: WorkingCalendar, record: dict[str, str | None] | None) -> WorkingCalendar:
    """`calendar` without the years `record` says were counted Monday to Friday."""
    gone = {int(y) for y, stamp in (record or {}).items() if stamp is None}
    if not gone & set(calendar.years):
        return calendar
    return WorkingCalendar({y: s for y, s in calendar.years.items() if y not in gone})


async def recount_year(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    year: int,
    *,
    before: WorkingCalendar,
    after: WorkingCalendar,
    actor: tuple[str, str],
    at: datetime,
) -> int:
    """Recount by `after` (the calendar with `year` as saved) the running working-day
    deadlines of open cases counted over `year` (`before`: the calendar in force until then);
    returns how many moved. Call it inside the transaction that saves the year."""
    cases = await repository.cases_counted_over(
        conn,
        _working_day_limits(policy),
        first=datetime(year, 1, 1, tzinfo=policy.tz),
        after=datetime(year + 1, 1, 1, tzinfo=policy.tz),
    )
    return await _recount(conn, policy, cases, (before, after), year, actor, at)


async def recount_flagged(
    pool: asyncpg.Pool, policy: CasePolicy, calendar: WorkingCalendar, *, at: datetime
) -> int:
    """Recount the running working-day deadlines of open cases counted with another schedule
    of a year than `calendar` (this instance's, just reloaded) has: by an instance a reload
    behind a year saved or corrected elsewhere. Run after each reload; when a save committed
    since the reload, the next reload does it (the lock keeps saves out meanwhile)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE calendar_years IN SHARE MODE")
        committed = {s.year: s for s in [*bundled_schedules(), *await saved_schedules(conn)]}
        if committed != dict(calendar.years):
            return 0
        stamps = {y: year_stamp(s) for y, s in calendar.years.items()}
        cases = await repository.cases_counted_otherwise(conn, _working_day_limits(policy), stamps)
        return await _recount(conn, policy, cases, (calendar, calendar), None, RELOAD_ACTOR, at)


def _working_day_limits(policy: CasePolicy) -> list[str]:
    return [r.name.value for r in policy.limit_rules if r.unit == "working_days"]


async def _recount(
    conn: asyncpg.Connection,
    policy: CasePolicy,
    cases: list[int],
    calendars: tuple[WorkingCalendar, WorkingCalendar],
    year: int | None,
    actor: tuple[str, str],
    at: datetime,
) -> int:
    """Recount the running deadlines of `cases` (those still open, locked) from the first
    calendar to the second; a line in the record of each that moved, the cases' flags set."""
    running = await repository.lock_running_deadlines(conn, cases, _working_day_limits(policy))
    before, after = calendars
    changed = recounted(policy, before=before, after=after, running=running)
    await repository.move_deadlines(conn, [(r["case_id"], r["cycle"], d) for r, d in changed])
    failpoint("calendar.recount.midway")  # the fault tests: deadlines moved, no record yet
    moved = [(r, d) for r, d in changed if (d.due_at, d.warn_at) != (r["due_at"], r["warn_at"])]
    await repository.append_audits(conn, [_record(r, d, year, actor, at) for r, d in moved])
    # The cases' flags as their deadlines now say; a count that runs into another year still
    # missing says so, as when it was opened.
    await repository.refresh_calendar_flags(conn, sorted({r["case_id"] for r in running}))
    if missing := {y for _, d in changed for y in d.missing_years}:
        report_missing("complaints", missing, what="complaint time limits")
    return len(moved)


def _record(
    row: dict[str, Any], new: Deadline, year: int | None, actor: tuple[str, str], at: datetime
) -> repository.AuditEntry:
    if year is None:  # at a reload: the first year counted with another schedule
        was = row.get("calendar_counted") or {}
        other = (y for y, stamp in new.counted_with if was.get(str(y), stamp) != stamp)
        year = next(other, new.counted_with[0][0])
    return repository.AuditEntry(
        case_id=row["case_id"], at=at, actor_id=actor[0], actor_role=actor[1], action=RECOUNTED,
        from_status=row["status"], to_status=row["status"],
        detail={"limit": row["limit_name"], "cycle": row["cycle"], "calendar_year": year,
                "from": row["due_at"], "to": new.due_at, "warn_at": new.warn_at},
    )  # fmt: skip
