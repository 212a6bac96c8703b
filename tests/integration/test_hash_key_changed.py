"""A service started with another DATA_HASH_KEY than its schema's search hashes were made
with refuses to start and says so. Before, it started: an opted-out number no longer matched
its opt-out (`GET /v1/opt-outs?phone=` found nothing, and the number was texted again) and the
console's patient search by phone found nobody, with no word anywhere."""

from __future__ import annotations

from typing import Any

import asyncpg

from hospital_shared import db, field_crypto
from tests.integration.capture_servers import free_port
from tests.integration.schemas import migrations
from tests.integration.services import refused_start_log


async def test_a_service_refuses_a_hash_key_its_hashes_were_not_made_with(
    stack_config: Any, stack_env: dict[str, str]
) -> None:
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:  # migrated and the stack's key (the development one) recorded, as a start does
        folders = {"shared": db.SHARED_MIGRATIONS, "notifications": migrations("notifications")}
        await db.migrate(conn, schema="notifications", folders=folders)
        await conn.execute("SET search_path TO notifications")
        await field_crypto.check_hash_key(conn)
    finally:
        await conn.close()
    extra = {"DATA_HASH_KEY": "another-hash-key", "NOTIFICATIONS_HTTP_PORT": str(free_port())}
    log = refused_start_log(stack_config, "notifications", extra, log_prefix="hash-key")
    (refusal,) = [line for line in log.splitlines() if "HashKeyChanged" in line]
    assert "DATA_HASH_KEY" in refusal and "opted-out numbers" in refusal
    assert "another-hash-key" not in log
