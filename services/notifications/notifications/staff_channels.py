"""Use cases of the staff channel settings: a staff member's channels and digest choice, the
group-robot webhooks of departments and staff members. Each writes its audit row in the
caller's transaction; a webhook set replaces the target's active one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from hospital_shared.auth import Principal
from notifications import repository
from notifications.refusals import NotFound


async def set_preferences(
    conn: asyncpg.Connection,
    staff_id: str,
    *,
    by: Principal,
    channels: Sequence[str] | None,
    digest: bool | None,
) -> None:
    """Save `staff_id`'s channels (None: the defaults) and digest choice (None: the default)."""
    await conn.execute(
        """INSERT INTO staff_preferences (staff_id, channels, digest, updated_by)
           VALUES ($1, $2, $3, $4) ON CONFLICT (staff_id) DO UPDATE SET
             channels = $2, digest = $3, updated_by = $4, updated_at = now()""",
        staff_id, list(channels) if channels is not None else None, digest, by.staff_id,
    )  # fmt: skip
    await repository.audit(conn, actor=by, action="staff_channels_set", target=staff_id,
                           detail=json.dumps({"channels": channels, "digest": digest}))  # fmt: skip


async def active_webhooks(
    conn: asyncpg.Connection, *, after_id: int | None, limit: int
) -> list[asyncpg.Record]:
    """At most `limit` active webhooks by id, those after `after_id` when given (a page)."""
    return list(
        await conn.fetch(
            "SELECT * FROM staff_webhooks WHERE active AND ($1::bigint IS NULL OR id > $1)"
            " ORDER BY id LIMIT $2",
            after_id,
            limit,
        )
    )


async def set_webhook(conn: asyncpg.Connection, *, by: Principal, **webhook: Any) -> Any:
    """The new active webhook of `department_code` or `staff_id` (the one before retired)."""
    department, staff_id = webhook["department_code"], webhook["staff_id"]
    await conn.execute(
        "UPDATE staff_webhooks SET active = false WHERE active"
        " AND (department_code = $1 OR staff_id = $2)",
        department, staff_id,
    )  # fmt: skip
    row = await conn.fetchrow(
        """INSERT INTO staff_webhooks (department_code, staff_id, flavour, url, msgtype,
             secret, mention, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
        department, staff_id, webhook["flavour"], webhook["url"], webhook["msgtype"],
        webhook["secret"], webhook["mention"], by.staff_id,
    )  # fmt: skip
    assert row is not None
    detail = json.dumps({"webhook_id": row["id"], "flavour": webhook["flavour"]})
    await repository.audit(conn, actor=by, action="webhook_set",
                           target=department or f"staff:{staff_id}", detail=detail)  # fmt: skip
    return row


async def remove_webhook(conn: asyncpg.Connection, webhook_id: int, *, by: Principal) -> None:
    done = await conn.fetchval(
        "UPDATE staff_webhooks SET active = false WHERE id = $1 AND active RETURNING id",
        webhook_id,
    )
    if done is None:
        raise NotFound("no such active webhook")
    await repository.audit(conn, actor=by, action="webhook_removed", target=str(webhook_id))
