"""Metrics on the real PostgreSQL, at a limit's due instant: a complaint's clock, an
enquiry's answer and a handler's first response are still pending then, as the complaints
service rules (`hospital_shared.time_limits`: met when settled at or before the due time, so
breached only once it has passed). Metrics counted them missed at that instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from metrics import appraisal_store, queries
from metrics.kpi import Window
from metrics.settings import Settings
from tests.integration.schemas import schema_pool

DUE = datetime(2026, 12, 7, 8, tzinfo=UTC)
WINDOW = Window(DUE - timedelta(days=7), DUE + timedelta(days=1))


async def _open_case_and_enquiry(pool) -> None:  # type: ignore[no-untyped-def]
    await pool.execute(
        "INSERT INTO complaint_cases (case_id, department, opened_at, opened_seen,"
        " first_response_due_at, handler_id) VALUES ('c1', 'cardiology', $1, true, $2, 's1')",
        DUE - timedelta(hours=24), DUE,
    )  # fmt: skip
    await pool.execute(
        "INSERT INTO enquiries (enquiry_id, channel, department, taken_at, due_at, status)"
        " VALUES ('q1', 'phone', 'cardiology', $1, $2, 'open')",
        DUE - timedelta(hours=2), DUE,
    )  # fmt: skip


async def _figures(pool, now: datetime) -> tuple[object, ...]:  # type: ignore[no-untyped-def]
    async with pool.acquire() as conn:
        query = queries.KpiQuery.of(Settings(), now)
        counts = await queries.kpi_counts(conn, WINDOW, department=None, query=query)
        staff = await appraisal_store.staff_counts(conn, WINDOW, now=now)
    return (
        counts["complaint_first_response_rate"],
        counts["enquiry_answered_in_time_rate"],
        [(s.staff_id, s.cases, s.cases_in_time, s.cases_pending) for s in staff],
    )


async def test_a_limit_is_pending_at_its_due_instant_and_missed_once_it_has_passed(
    stack_env,  # type: ignore[no-untyped-def]
) -> None:
    async with schema_pool(stack_env["DATABASE_URL"], "due_instant", "metrics") as pool:
        await _open_case_and_enquiry(pool)
        # (numerator, denominator, pending): at the due instant nothing has matured
        assert await _figures(pool, DUE) == ((0, 0, 1), (0, 0, 1), [("s1", 1, 0, 1)])
        later = DUE + timedelta(microseconds=1)
        assert await _figures(pool, later) == ((0, 1, 0), (0, 1, 0), [("s1", 1, 0, 0)])
