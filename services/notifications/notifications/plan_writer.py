"""Saving a batch's plans with a handful of statements instead of several per event.

The writer takes the events' effects in their order and keeps what they write (contacts,
deaths, withdrawals, new messages) until `flush`, which writes each kind in one statement:
- withdrawals go before the messages of the same flush, so they only reach messages that
  existed already; a withdrawal that reaches a message still held (its registration
  created and cancelled in one batch) marks it, and it is created withdrawn, as the
  withdrawal's UPDATE would have left it after the message's INSERT (it used to flush
  first: a bench drain of 40,000 events spent a third of its samples in those flushes);
- a withdrawn subject is known at once (`withdrawn`), so a message planned later in the
  batch for that subject is created withdrawn, as one event at a time would;
- a roster change flushes first: messages held until then find their staff as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from hospital_shared.service_events.followup import StaffMemberSaved
from notifications import duty_store, message_store, repository, survey_store
from notifications.message_rows import MessageRows, Row, Source
from notifications.policy import Contact, Plan, Planned, Withdraw
from notifications.survey_links import SurveyLink

log = structlog.get_logger(__name__)


@dataclass(slots=True)  # not frozen, as policy.Planned (one an event)
class Effects:
    """What one event changes: the directory (a patient's contact, a death reported on an
    admission or taken back, a staff member) and its plan."""

    plan: Plan
    contact: Contact | None = None
    deceased_ref: str | None = None  # with plan.deceased: the admission that reported it
    staff: StaffMemberSaved | None = None  # a roster change


@dataclass(slots=True)
class _Held:
    event: Source
    planned: Planned
    template: Mapping[str, Any]
    withdrawn: str | None  # its subject was withdrawn before it was planned
    withdrawn_later: str | None = None  # a withdrawal after it in the batch reaches it


class PlanWriter:
    def __init__(
        self,
        conn: asyncpg.Connection,
        *,
        templates: Mapping[str, Mapping[str, Any]],
        withdrawn: dict[str, str],
        message_rows: MessageRows,
        survey_secret: str = "",
    ) -> None:
        """`withdrawn`: the reason of every withdrawn subject a message of the batch has;
        `survey_secret`: what survey links' tokens are made with (survey_links.py)."""
        self.conn = conn
        self.survey_secret = survey_secret
        self._links: list[tuple[SurveyLink, str, str]] = []
        self.templates = templates
        self.withdrawn = withdrawn
        self.message_rows = message_rows
        self._contacts: dict[str, Contact] = {}
        self._deaths: list[tuple[str | None, str, bool]] = []  # (patient, ref, deceased)
        self._remembered: dict[str, tuple[str, str, str]] = {}
        self._withdrawals: list[Withdraw] = []
        self._held: list[_Held] = []
        self._held_by_subject: dict[str, list[_Held]] = {}
        self._held_by_patient: dict[str, list[_Held]] = {}  # patient messages

    async def add(self, event: Source, effects: Effects) -> None:
        if effects.staff is not None:
            await self.flush()
            await repository.save_staff(self.conn, effects.staff)
        if (c := effects.contact) is not None:
            earlier = self._contacts.get(c.patient_id)
            self._contacts[c.patient_id] = earlier.then(c) if earlier else c
        plan = effects.plan
        if plan.deceased is not None and effects.deceased_ref is not None:
            patient_id = effects.contact.patient_id if effects.contact else None
            self._deaths.append((patient_id, effects.deceased_ref, plan.deceased))
        for w in plan.withdrawals:
            await self._withdraw(event, w)
        for planned in plan.messages:
            self._hold(event, planned)
        self._links.extend((link, event.id, event.type) for link in plan.surveys)

    async def _withdraw(self, event: Source, w: Withdraw) -> None:
        self._reach_held(w)
        if w.subject_ref:
            self.withdrawn.setdefault(w.subject_ref, w.reason)
            self._remembered.setdefault(w.subject_ref, (w.subject_ref, w.reason, event.id))
        self._withdrawals.append(w)

    def _reach_held(self, w: Withdraw) -> None:
        """Mark the held messages `message_store.withdraw` would reach had they been
        inserted already: of the subject, or the patient's patient messages but those whose
        template is `send_to_deceased`. The first withdrawal reaching one gives the reason."""
        reached = list(self._held_by_subject.get(w.subject_ref, ())) if w.subject_ref else []
        if w.patient_id:
            reached += (
                h
                for h in self._held_by_patient.get(w.patient_id, ())
                if not h.template["send_to_deceased"]
            )
        for h in reached:
            if h.withdrawn_later is None:
                h.withdrawn_later = w.reason

    def _hold(self, event: Source, planned: Planned) -> None:
        template = self.templates.get(planned.template)
        if template is None:
            log.error("template missing, message not created", template=planned.template)
            return
        withdrawn = self.withdrawn.get(planned.subject_ref) if planned.subject_ref else None
        held = _Held(event, planned, template, withdrawn)
        self._held.append(held)
        if planned.subject_ref:
            self._held_by_subject.setdefault(planned.subject_ref, []).append(held)
        if planned.patient_id and template["audience"] == "patient":
            self._held_by_patient.setdefault(planned.patient_id, []).append(held)

    async def flush(self) -> None:
        conn = self.conn
        for patient_id, ref, deceased in self._deaths:
            if deceased:
                assert patient_id is not None
                await repository.mark_deceased(conn, patient_id, ref)
            else:
                await repository.undo_deceased(conn, ref)
        await repository.save_patients(conn, list(self._contacts.values()))
        if self._remembered:
            await message_store.remember_withdrawn(conn, self._remembered.values())
        deaths = {w.patient_id for w in self._withdrawals if w.patient_id}
        if self._remembered or deaths:
            await survey_store.drop_reminders(conn, self._remembered.keys(), deaths)
        await message_store.withdraw(conn, self._withdrawals)
        await message_store.insert_messages(conn, await self._rows())
        await survey_store.insert_links(conn, self._links, self.survey_secret)
        self._links.clear()
        self._contacts.clear()
        self._deaths.clear()
        self._remembered.clear()
        self._withdrawals.clear()
        self._held.clear()
        self._held_by_subject.clear()
        self._held_by_patient.clear()

    async def _rows(self) -> list[Row]:
        """The held messages' rows, a key's first row only (as inserting one at a time)."""
        to_staff = [h for h in self._held if h.template["audience"] == "staff"]
        wanted = {h.planned.supervisor_of for h in to_staff if h.planned.staff_id is None}
        supervisors = await repository.supervisors_of(self.conn, wanted) if wanted else {}
        on_duty = await duty_store.on_duty_many(
            self.conn, {q for h in to_staff if (q := _duty_question(h.planned)) is not None}
        )
        roles = {r for h in to_staff if (r := h.planned.role) is not None}
        in_role = await repository.staff_in_roles(self.conn, roles) if roles else {}
        told = {t for h in to_staff if (t := h.planned.told_by) is not None}
        told_by = await repository.staff_told_by(self.conn, told) if told else {}

        def staff_of(h: _Held) -> str | None:
            planned = h.planned
            if h.template["audience"] != "staff" or planned.staff_id is not None:
                return planned.staff_id
            if planned.told_by is not None:
                return told_by.get(planned.told_by)
            question = _duty_question(planned)
            if question is not None and question in on_duty:
                return on_duty[question]
            if planned.role is not None and planned.role in in_role:
                return in_role[planned.role]
            return supervisors.get(planned.supervisor_of)

        staff_ids = {s for h in to_staff if (s := staff_of(h)) is not None}
        reach = await repository.staff_reach_many(self.conn, staff_ids) if staff_ids else {}
        rows: dict[str, Row] = {}
        for h in self._held:
            staff_id = staff_of(h)
            for row in self.message_rows.rows(
                h.event,
                h.planned,
                h.template,
                withdrawn=h.withdrawn,
                staff_id=staff_id,
                reach=reach.get(staff_id) if staff_id is not None else None,
            ):
                if h.withdrawn_later is not None:
                    self._withdrawn_later(row, h.withdrawn_later)
                rows.setdefault(row["idempotency_key"], row)
        return list(rows.values())

    def _withdrawn_later(self, row: Row, reason: str) -> None:
        """The row as the withdrawal's UPDATE leaves it: a waiting message that is not an
        inbox copy (those are delivered at once) is withdrawn."""
        if row["status"] == "pending" and row["channel"] != "inbox":
            row |= {
                "status": "withdrawn",
                "status_reason": reason,
                "finished_at": self.message_rows.clock(),
            }


def _duty_question(planned: Planned) -> duty_store.DutyQuestion | None:
    """The duty rota's question for a note to whoever is on duty (None for other notes)."""
    if planned.staff_id is not None or planned.on_duty_at is None:
        return None
    return (planned.supervisor_of, planned.on_duty_window, planned.on_duty_at)
