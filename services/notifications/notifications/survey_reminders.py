"""Survey reminders, made when they fall due rather than with their invitation.

An invitation's link keeps when its one reminder is due (`survey_links.reminder_due_at`,
survey_policy.py). This job takes the links whose reminder is due within `lead` of now, a
batch at a time (`FOR UPDATE SKIP LOCKED`: two instances share them), and in one transaction:
- makes the reminder of each link whose survey is unanswered and whose link has not expired,
  through the same `PlanWriter` as every planned message (rendered, sealed, quiet hours), and
  withdrawn at once when its subject was withdrawn (the visit cancelled, the discharge taken
  back: `withdrawn_subjects`), as the planned reminder was by that withdrawal;
- clears the links' `reminder_due_at`, made or not.
An answer to any link of the visit or discharge (the invitation's, or the one after an
unreachable call), a withdrawal of the visit or discharge, and a patient reported dead clear
the reminders not made yet (`survey_store.withdraw_reminder`, `drop_reminders`), taking the
links' row locks before they withdraw the messages: a reminder this job is making meanwhile
is withdrawn by them once it has committed. The dispatcher still suppresses any SMS to a
deceased patient (`domain.decide`). The job holds the patient aliases as a consumer does, so
a merge waits for it. The message's key is the one the planned reminder had, so a reminder
made twice (a crash after the commit cannot: both are one transaction) is one message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import structlog

from hospital_shared.patient_merge import lock_aliases
from notifications import message_store, repository
from notifications.message_rows import MessageRows
from notifications.plan_writer import Effects, PlanWriter
from notifications.policy import Plan, PlanningRules
from notifications.survey_policy import reminder_of

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Source:
    """The reminder's cause, as its message keeps it: the invitation's event."""

    id: str
    type: str


class SurveyReminders:
    def __init__(
        self,
        pool: asyncpg.Pool,
        rules: PlanningRules,
        message_rows: MessageRows,
        clock: Callable[[], datetime],
        *,
        lead: timedelta,
        batch_size: int = 500,
        paused: bool = False,
    ) -> None:
        """`lead`: a reminder due this soon is made now (the job's interval, so that none
        is made later than its time); `paused`: none is made (`survey_reminders_paused`)."""
        self.pool = pool
        self.rules = rules
        self.message_rows = message_rows
        self.clock = clock
        self.lead = lead
        self.batch_size = batch_size
        self.paused = paused

    async def run_once(self) -> int:
        """Make the reminders of one batch of due links; how many links it took."""
        if self.paused:
            return 0
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            # as every consumer's batch: a patient merge waits for it, so the reminders it
            # makes are not left behind under the merged id (patient_merge.py)
            await lock_aliases(conn)
            links = await conn.fetch(
                "SELECT link_id, patient_id, contact_ref, source_event_id, source_event_type,"
                " reminder_key, reminder_due_at, expires_at, answered_at FROM survey_links"
                " WHERE reminder_due_at <= $1 ORDER BY reminder_due_at LIMIT $2"
                " FOR UPDATE SKIP LOCKED",
                now + self.lead,
                self.batch_size,
            )
            if not links:
                return 0
            due = [r for r in links if r["answered_at"] is None and r["expires_at"] > now]
            if due:
                await self._make(conn, due)
            await conn.execute(
                "UPDATE survey_links SET reminder_due_at = NULL WHERE link_id = ANY($1::text[])",
                [r["link_id"] for r in links],
            )
        log.info("survey reminders made", links=len(links), made=len(due))
        return len(links)

    async def _make(self, conn: asyncpg.Connection, links: list[asyncpg.Record]) -> None:
        writer = PlanWriter(
            conn,
            templates=await repository.load_templates(conn),
            withdrawn=await message_store.withdrawn_reasons(
                conn, {r["contact_ref"] for r in links}
            ),
            message_rows=self.message_rows,
        )
        for link in links:
            source = _Source(link["source_event_id"], link["source_event_type"])
            await writer.add(source, Effects(plan=Plan(messages=(reminder_of(link, self.rules),))))
        await writer.flush()
        await conn.execute("SELECT pg_notify('notifications_dispatch', '')")
