"""SQL of the notifications service (asyncpg; search_path is the `notifications` schema)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import asyncpg

from notifications.staff_policy import StaffReach
from notifications.templates import DEFAULT_TEMPLATES

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


# --- directory -----------------------------------------------------------------------


async def save_patient(
    conn: asyncpg.Connection, patient_id: str, phone: str | None, sms_opt_out: bool | None
) -> None:
    await conn.execute(
        """INSERT INTO patients (patient_id, phone, sms_opt_out) VALUES ($1, $2, coalesce($3, false))
           ON CONFLICT (patient_id) DO UPDATE SET
             phone = coalesce(excluded.phone, patients.phone),
             sms_opt_out = coalesce($3, patients.sms_opt_out), updated_at = now()""",
        patient_id,
        phone,
        sms_opt_out,
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


async def save_staff(conn: asyncpg.Connection, s: Any) -> None:
    await conn.execute(
        """INSERT INTO staff (staff_id, name, department_code, role, phone, active, email)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (staff_id) DO UPDATE SET name = $2, department_code = $3, role = $4,
             phone = $5, active = $6, email = $7, updated_at = now()""",
        s.staff_id,
        s.name,
        s.department_code,
        str(s.role),
        s.phone,
        s.active,
        getattr(s, "email", None),
    )


async def staff_reach(conn: asyncpg.Connection, staff_id: str) -> StaffReach:
    row = await conn.fetchrow(
        """SELECT s.email, p.channels, p.digest,
                  EXISTS (SELECT 1 FROM staff_webhooks w WHERE w.active
                          AND (w.staff_id = $1 OR w.department_code = s.department_code))
                    AS has_webhook
             FROM (SELECT $1::text AS staff_id) x
             LEFT JOIN staff s USING (staff_id)
             LEFT JOIN staff_preferences p USING (staff_id)""",
        staff_id,
    )
    assert row is not None
    channels = tuple(row["channels"]) if row["channels"] is not None else None
    return StaffReach(row["email"], row["has_webhook"], channels, row["digest"])


async def supervisor_of(conn: asyncpg.Connection, department: str | None) -> str | None:
    """The supervisor of `department`; any active supervisor when it has none."""
    value: str | None = await conn.fetchval(
        """SELECT staff_id FROM staff WHERE role = 'supervisor' AND active
           ORDER BY (department_code = $1) DESC NULLS LAST, staff_id LIMIT 1""",
        department,
    )
    return value


# --- creating and withdrawing messages -----------------------------------------------


async def insert_message(conn: asyncpg.Connection, **fields: Any) -> bool:
    """Create a message unless its idempotency key exists; True when created."""
    fields.setdefault("id", uuid.uuid4())
    columns = ", ".join(fields)
    values = ", ".join(f"${i}" for i in range(1, len(fields) + 1))
    created = await conn.fetchval(
        f"INSERT INTO messages ({columns}) VALUES ({values})"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING true",
        *fields.values(),
    )
    return bool(created)


async def remember_withdrawn(
    conn: asyncpg.Connection, subject_ref: str, reason: str, event_id: str
) -> None:
    await conn.execute(
        "INSERT INTO withdrawn_subjects (subject_ref, reason, source_event_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        subject_ref,
        reason,
        event_id,
    )


async def withdrawn_reason(conn: asyncpg.Connection, subject_ref: str | None) -> str | None:
    if subject_ref is None:
        return None
    value: str | None = await conn.fetchval(
        "SELECT reason FROM withdrawn_subjects WHERE subject_ref = $1", subject_ref
    )
    return value


async def withdraw(
    conn: asyncpg.Connection,
    *,
    reason: str,
    subject_ref: str | None = None,
    patient_id: str | None = None,
) -> int:
    """Withdraw messages not yet handed to the gateway: of a subject, or of a patient."""
    status = await conn.execute(
        """UPDATE messages SET status = 'withdrawn', status_reason = $3, finished_at = now(),
             updated_at = now()
           WHERE status = 'pending' AND channel <> 'inbox'
             AND (($1::text IS NOT NULL AND subject_ref = $1)
               OR ($2::text IS NOT NULL AND patient_id = $2 AND audience = 'patient'))""",
        subject_ref,
        patient_id,
        reason,
    )
    return int(status.split()[-1])


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
    existing = await conn.fetchval(
        """SELECT id FROM opt_outs WHERE revoked_at IS NULL
             AND patient_id IS NOT DISTINCT FROM $1 AND phone IS NOT DISTINCT FROM $2""",
        patient_id,
        phone,
    )
    if existing:
        return int(existing)
    new_id = await conn.fetchval(
        "INSERT INTO opt_outs (patient_id, phone, source, reason, created_by)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id",
        patient_id,
        phone,
        source,
        reason,
        created_by,
    )
    return int(new_id)


async def revoke_opt_outs(
    conn: asyncpg.Connection, *, ids: Iterable[int] = (), phone: str | None = None, by: str | None
) -> int:
    status = await conn.execute(
        "UPDATE opt_outs SET revoked_at = now(), revoked_by = $3"
        " WHERE revoked_at IS NULL AND (id = ANY($1::bigint[]) OR phone = $2)",
        list(ids),
        phone,
        by,
    )
    return int(status.split()[-1])


async def list_opt_outs(
    conn: asyncpg.Connection, *, patient_id: str | None, phone: str | None
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM opt_outs WHERE ($1::text IS NULL OR patient_id = $1)
             AND ($2::text IS NULL OR phone = $2) ORDER BY id DESC LIMIT 200""",
        patient_id,
        phone,
    )


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
        "INSERT INTO inbound_sms (phone, text, action) VALUES ($1, $2, $3)", phone, text, action
    )


async def message(conn: asyncpg.Connection, message_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM messages WHERE id = $1", message_id)


async def messages_of(
    conn: asyncpg.Connection,
    *,
    patient_id: str | None = None,
    staff_id: str | None = None,
    channel: str | None = None,
    limit: int = 200,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM messages WHERE ($1::text IS NULL OR patient_id = $1)
             AND ($2::text IS NULL OR staff_id = $2) AND ($3::text IS NULL OR channel = $3)
           ORDER BY created_at DESC LIMIT $4""",
        patient_id,
        staff_id,
        channel,
        limit,
    )
