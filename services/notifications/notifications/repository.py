"""SQL of the notifications service (asyncpg; search_path is the `notifications` schema).

Patients' phone numbers, opt-out reasons, SMS replies and message bodies (and the number a
message went to) are sealed here on the way in and opened here on the way out
(field_crypto.py); an exact search by phone compares keyed hashes (`phone_hash`)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from hospital_shared.field_crypto import open_fields, seal, search_hash
from hospital_shared.service_events.followup import StaffMemberSaved
from notifications import optout_events
from notifications.domain import Status
from notifications.policy import Contact
from notifications.staff_policy import StaffReach
from notifications.templates import DEFAULT_TEMPLATES

MESSAGE_SEALED = ("body", "to_number")
OPT_OUT_SEALED = ("phone", "reason")


def opened_message(row: Any) -> dict[str, Any]:
    """A message row as read, its body and number opened."""
    return open_fields(row, MESSAGE_SEALED)


def same_phone(plain: str, hashed: str, table: str = "") -> str:
    """SQL: the row's phone is the number given as `plain` whose keyed hash is `hashed`
    (parameters): by the hash, or for a row from before encryption (no hash yet) by the
    plaintext it still holds."""
    t = f"{table}." if table else ""
    return f"({t}phone_hash = {hashed} OR ({t}phone_hash IS NULL AND {t}phone = {plain}))"


# --- templates -----------------------------------------------------------------------


async def seed_templates(conn: asyncpg.Connection) -> None:
    """Insert the default templates the hospital has not got yet; never overwrite edits."""
    await conn.executemany(
        "INSERT INTO templates (name, audience, body, urgent, send_to_deceased, description)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
        [
            (t.name, t.audience, t.body, t.urgent, t.send_to_deceased, t.description)
            for t in DEFAULT_TEMPLATES
        ],
    )


async def load_templates(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    return {r["name"]: r for r in await conn.fetch("SELECT * FROM templates")}


async def template(conn: asyncpg.Connection, name: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM templates WHERE name = $1", name)


async def templates_after(
    conn: asyncpg.Connection, name: str | None, limit: int
) -> list[asyncpg.Record]:
    """At most `limit` templates by name, those after `name` when given (a page)."""
    return await conn.fetch(
        "SELECT * FROM templates WHERE $1::text IS NULL OR name > $1 ORDER BY name LIMIT $2",
        name,
        limit,
    )


# --- directory -----------------------------------------------------------------------


async def save_patients(conn: asyncpg.Connection, contacts: Sequence[Contact]) -> None:
    """Upsert patients as the hospital systems last described them, one row per patient: a
    phone or opt-out flag not given (None) keeps the one on file. The phone is sealed, with
    its keyed hash beside it (the opt-out searches)."""
    if not contacts:
        return
    await conn.execute(
        """INSERT INTO patients (patient_id, phone, sms_opt_out, phone_hash)
           SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $5::text[])
           ON CONFLICT (patient_id) DO UPDATE SET
             phone = coalesce(excluded.phone, patients.phone),
             phone_hash = CASE WHEN excluded.phone IS NULL THEN patients.phone_hash
                               ELSE excluded.phone_hash END,
             sms_opt_out = CASE WHEN excluded.patient_id = ANY($4::text[])
                                THEN patients.sms_opt_out ELSE excluded.sms_opt_out END,
             updated_at = now()""",
        [c.patient_id for c in contacts],
        [seal(c.phone) for c in contacts],
        [bool(c.sms_opt_out) for c in contacts],
        [c.patient_id for c in contacts if c.sms_opt_out is None],
        [search_hash(c.phone) for c in contacts],
    )


async def mark_deceased(conn: asyncpg.Connection, patient_id: str, ref: str) -> None:
    await conn.execute(
        """INSERT INTO patients (patient_id, deceased, deceased_ref) VALUES ($1, true, $2)
           ON CONFLICT (patient_id) DO UPDATE SET deceased = true, deceased_ref = $2,
             updated_at = now()""",
        patient_id,
        ref,
    )


async def undo_deceased(conn: asyncpg.Connection, ref: str) -> None:
    await conn.execute(
        "UPDATE patients SET deceased = false, deceased_ref = NULL, updated_at = now()"
        " WHERE deceased_ref = $1",
        ref,
    )


async def save_staff(conn: asyncpg.Connection, s: StaffMemberSaved) -> None:
    await conn.execute(
        """INSERT INTO staff (staff_id, name, department_code, role, phone, active, email)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (staff_id) DO UPDATE SET name = $2, department_code = $3, role = $4,
             phone = $5, active = $6, email = $7, updated_at = now()""",
        s.staff_id,
        s.name,
        s.department_code,
        s.role.value,
        s.phone,
        s.active,
        s.email,
    )


async def known_staff_id(conn: asyncpg.Connection, staff_id: str) -> str | None:
    """`staff_id` when the roster (as received) or a saved channel choice has it."""
    found: str | None = await conn.fetchval(
        """SELECT staff_id FROM staff WHERE staff_id = $1
           UNION ALL SELECT staff_id FROM staff_preferences WHERE staff_id = $1 LIMIT 1""",
        staff_id,
    )
    return found


async def staff_reach(conn: asyncpg.Connection, staff_id: str) -> StaffReach:
    return (await staff_reach_many(conn, [staff_id]))[staff_id]


async def staff_reach_many(
    conn: asyncpg.Connection, staff_ids: Collection[str]
) -> dict[str, StaffReach]:
    """How each of these staff members can be reached (unknown ones: not at all)."""
    rows = await conn.fetch(
        """SELECT x.staff_id, s.email, p.channels, p.digest,
                  EXISTS (SELECT 1 FROM staff_webhooks w WHERE w.active
                          AND (w.staff_id = x.staff_id OR w.department_code = s.department_code))
                    AS has_webhook
             FROM unnest($1::text[]) AS x(staff_id)
             LEFT JOIN staff s USING (staff_id)
             LEFT JOIN staff_preferences p USING (staff_id)""",
        list(staff_ids),
    )
    return {
        r["staff_id"]: StaffReach(
            r["email"],
            r["has_webhook"],
            tuple(r["channels"]) if r["channels"] is not None else None,
            r["digest"],
        )
        for r in rows
    }


async def staff_in_roles(conn: asyncpg.Connection, roles: Collection[str]) -> dict[str, str]:
    """An active member of each roster role that has one (the first by staff id)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (role) role, staff_id FROM staff"
        " WHERE role = ANY($1::text[]) AND active ORDER BY role, staff_id",
        list(roles),
    )
    return {r["role"]: r["staff_id"] for r in rows}


async def staff_told_by(conn: asyncpg.Connection, event_ids: Collection[str]) -> dict[str, str]:
    """The staff member each source event's messages went to (its first message's)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (source_event_id) source_event_id, staff_id FROM messages"
        " WHERE source_event_id = ANY($1::text[]) AND staff_id IS NOT NULL"
        " ORDER BY source_event_id, id",
        list(event_ids),
    )
    return {r["source_event_id"]: r["staff_id"] for r in rows}


async def supervisors_of(
    conn: asyncpg.Connection, departments: Collection[str | None]
) -> dict[str | None, str | None]:
    """The supervisor of each department; any active supervisor when it has none (None when
    nobody on the roster is one)."""
    rows = await conn.fetch(
        """SELECT d.department,
                  (SELECT staff_id FROM staff WHERE role = 'supervisor' AND active
                    ORDER BY (department_code = d.department) DESC NULLS LAST, staff_id
                    LIMIT 1) AS staff_id
             FROM unnest($1::text[]) AS d(department)""",
        list(departments),
    )
    return {r["department"]: r["staff_id"] for r in rows}


# --- opt-outs ------------------------------------------------------------------------


async def add_opt_out(
    conn: asyncpg.Connection,
    *,
    source: str,
    patient_id: str | None = None,
    phone: str | None = None,
    reason: str | None = None,
    created_by: str | None = None,
) -> int:
    # The same opt-out in force already: that one (a STOP sent twice). Only of the same
    # source: a reply's opt-out is lifted by a reply (START), one staff recorded is not, so a
    # wish said at the desk is kept apart from the number's STOP before it.
    existing = await conn.fetchval(
        f"""SELECT id FROM opt_outs WHERE revoked_at IS NULL
             AND patient_id IS NOT DISTINCT FROM $1 AND source = $4
             AND (($2::text IS NULL AND phone IS NULL) OR {same_phone("$2", "$3")})""",
        patient_id,
        phone,
        search_hash(phone),
        source,
    )
    if existing:
        return int(existing)
    row = await conn.fetchrow(
        "INSERT INTO opt_outs (patient_id, phone, source, reason, created_by, phone_hash)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        patient_id,
        seal(phone),
        source,
        seal(reason),
        created_by,
        search_hash(phone),
    )
    await optout_events.publish_recorded(conn, row)  # a restore replays it (optout_events)
    return int(row["id"])


async def revoke_opt_outs(
    conn: asyncpg.Connection,
    *,
    ids: Iterable[int] = (),
    phone: str | None = None,
    by: str | None,
    replies_only: bool = False,
) -> int:
    """Lift the opt-outs `ids` and those of `phone`; with `replies_only`, of those only the
    ones a reply made (an opt-in reply lifts no opt-out staff recorded)."""
    revoked = await conn.fetch(
        "UPDATE opt_outs SET revoked_at = now(), revoked_by = $3"
        " WHERE revoked_at IS NULL"
        f" AND (id = ANY($1::bigint[]) OR {same_phone('$2', '$4')})"
        " AND (NOT $5 OR source = 'sms_reply')"
        " RETURNING ref, revoked_at, revoked_by",
        list(ids),
        phone,
        by,
        search_hash(phone),
        replies_only,
    )
    await optout_events.publish_revoked(conn, revoked)
    return len(revoked)


async def list_opt_outs(
    conn: asyncpg.Connection,
    *,
    patient_id: str | None,
    phone: str | None,
    limit: int = 200,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """The newest first, at most `limit`, those older than opt-out `before_id` when given."""
    rows = await conn.fetch(
        f"""SELECT * FROM opt_outs WHERE ($1::text IS NULL OR patient_id = $1)
             AND ($2::text IS NULL OR {same_phone("$2", "$3")})
             AND ($5::bigint IS NULL OR id < $5) ORDER BY id DESC LIMIT $4""",
        patient_id,
        phone,
        search_hash(phone),
        limit,
        before_id,
    )
    # the hash stays here: it identifies a number to whoever holds the hash key
    return [{k: v for k, v in open_fields(r, OPT_OUT_SEALED).items() if k != "phone_hash"}
            for r in rows]  # fmt: skip


async def audit(
    conn: asyncpg.Connection, *, actor: Any, action: str, target: str, detail: str = "{}"
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_id, actor_role, action, target, detail)"
        " VALUES ($1, $2, $3, $4, $5::jsonb)",
        actor.staff_id,
        str(actor.role),
        action,
        target,
        detail,
    )


async def record_inbound(conn: asyncpg.Connection, phone: str, text: str, action: str) -> None:
    await conn.execute(
        "INSERT INTO inbound_sms (phone, text, action) VALUES ($1, $2, $3)",
        seal(phone),
        seal(text),
        action,
    )


async def message(
    conn: asyncpg.Connection, message_id: uuid.UUID, *, for_update: bool = False
) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT * FROM messages WHERE id = $1{lock}", message_id)
    return opened_message(row) if row else None


# A status's own query text (from the enum, never from a request): a generic plan of
# `($n IS NULL OR status = $n)` could not use the partial indexes of the statuses operations
# list (messages_due, messages_failed_or_expired, migration 410).
_MESSAGES = """SELECT * FROM messages WHERE {status} ($1::text IS NULL OR patient_id = $1)
     AND ($2::text IS NULL OR staff_id = $2) AND ($3::text IS NULL OR channel = $3)
     AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6::uuid))
     AND ($7::timestamptz IS NULL OR coalesce(finished_at, created_at) >= $7)
     AND ($8::text IS NULL OR deferred_reason = $8)
   ORDER BY created_at DESC, id DESC LIMIT $4"""
_ANY_STATUS = _MESSAGES.format(status="")
_IN_STATUS = {s: _MESSAGES.format(status=f"status = '{s.value}' AND") for s in Status}


async def messages_of(
    conn: asyncpg.Connection,
    *,
    patient_id: str | None = None,
    staff_id: str | None = None,
    channel: str | None = None,
    status: Status | None = None,
    since: datetime | None = None,
    deferred_reason: str | None = None,
    limit: int = 200,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    """The newest first (created_at, then id), at most `limit`, those after the message
    `after` (its created_at and id: the previous page's last) when given; `since`: finished
    then or later (failed, expired, delivered...), or created then or later while not
    finished: what failed during an outage includes a reminder planned the week before."""
    at, last_id = after if after is not None else (None, None)
    rows = await conn.fetch(
        _ANY_STATUS if status is None else _IN_STATUS[status],
        patient_id,
        staff_id,
        channel,
        limit,
        at,
        last_id,
        since,
        deferred_reason,
    )
    return [opened_message(r) for r in rows]
