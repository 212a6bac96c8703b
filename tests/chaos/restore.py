"""Backup and restore, proven on the real stack (issue 24).

A stream runs; a backup is taken in the middle of it (`devstack.backup.take`: the consumer
groups' offsets, then one `pg_dump` snapshot of every service); the stream goes on and has
all its effects (every SMS handed to Kannel, many of them after the backup). Then the
database is lost: the services stop, PostgreSQL's data folder is deleted and a fresh,
empty cluster started. `devstack.backup.restore` brings the dump back and puts every
consumer group back on the recorded offsets; the services start and re-read Kafka from
there.

The twin that never lost anything is the stream's expected state, computed from the events
alone the way the chaos suite computes it (`simulator.expected`), the same effects it checks
after every other fault: follow-up tasks, complaint cases, planned SMS, KPI counters, no
dead letter. A second stack run without the loss would be the same comparison at twice the
cost, and would share this one's timing accidents. The end state must equal it after the
restore, and also before the loss (else the loss proves nothing). On top:

- SMS at the operator over the whole run (fakesmsc's log, both halves): none lost, none
  twice. SMS handed after the backup are `pending` again in the restored rows or planned
  again by the replay; the dispatcher finds them in Kannel's records and settles them
  instead of sending them (notifications/restore_check.py): counted, and must be > 0
  whenever SMS were handed after the backup.
- Events on the wire: the replay publishes again, with the same ids, events that were
  published before the loss; the consumers' inboxes skip them (the effects above are not
  doubled). Counted: records of the run on the services' topics, and distinct ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from devstack import backup, backup_kafka, postgres
from hospital_shared.field_crypto import open_
from hospital_shared.topics import SERVICE_TOPICS
from simulator.expected import PATIENT_TEMPLATES, expected_effects
from tests.chaos import processes as p
from tests.chaos.effects import Check, phone_digits, sms_at_operator
from tests.chaos.scenario import (
    SERVICES,
    ChaosPlan,
    ChaosResult,
    _Clock,
    _converge,
    _stream,
    build_stream,
)
from tests.kafka_tools import read_all

GATEWAY_LOG_SENT = "found sent in the gateway's log"  # notifications.domain
# The services on the stack's ports + 300: test stacks side by side collide on some ports
# (offset 12000's smsbox is offset 17000's registration, 25001); the chaos twins use + 100.
PORT_SHIFT = 300

BackupFault = Callable[[Any, _Clock], Awaitable[None]]


async def postgres_crash_during_backup(cfg: Any, clock: _Clock) -> None:
    """PostgreSQL crashes (`pg_ctl -m immediate`) while the backup runs, and is started again
    a few seconds later: the attempt fails and leaves no record; the next one succeeds."""
    await asyncio.sleep(0.2)
    await asyncio.to_thread(postgres.crash, cfg)
    clock.log("PostgreSQL: crash during the backup (pg_ctl stop -m immediate)")
    await asyncio.sleep(4)
    await asyncio.to_thread(postgres.start_postgres, cfg)
    clock.log("PostgreSQL: recovered")


async def run_restore_case(
    cfg: Any, env: dict[str, str], plan: ChaosPlan, *, seed: int,
    backup_fault: BackupFault | None = None,
) -> ChaosResult:  # fmt: skip
    run_id = f"X{uuid.uuid4().hex[:5].upper()}"
    clock, rng = _Clock(), random.Random(seed)
    main = {name: p.ServiceProcess(cfg, name, port_shift=PORT_SHIFT) for name in SERVICES}
    env = {**env, "REGISTRATION_URL": main["registration"].url}
    fakesmsc_log = cfg.operator_log
    offset = fakesmsc_log.stat().st_size if fakesmsc_log.exists() else 0
    _, events = build_stream(plan, run_id, seed)
    target = backup.Target(env["DATABASE_URL"], env["KAFKA_BOOTSTRAP_SERVERS"])
    try:
        await p.start_all(list(main.values()))
        clock.log(f"five services up; streaming {len(events)} events at {plan.rate:g}/s")
        t0 = datetime.now(UTC)
        streaming = asyncio.create_task(_stream(env, events, plan.rate))
        await asyncio.sleep(rng.uniform(0.35, 0.5) * len(events) / plan.rate)
        folder = await _backup(cfg, target, run_id, clock, backup_fault)
        manifest = backup.load(folder)
        await streaming
        clock.log(f"stream finished ({len(events)} events)")
        expected = expected_effects(
            events, processed_from=t0,
            processed_until=datetime.now(UTC) + timedelta(seconds=2 * plan.converge_timeout_s),
            notifications_env=p.SERVICE_ENV["notifications"],
        )  # fmt: skip
        before = await _converge(cfg, env, expected, run_id, offset, t0, plan)
        after_backup = await _handed_after(env, run_id, manifest["taken_at"])
        clock.log(f"before the loss: effects checked; {after_backup} SMS handed after the backup")
        handed_before = await _handed_ids(env, run_id)
        kpis_before = await _kpi_reports(env, main["metrics"].url, run_id)
        loss_offset = fakesmsc_log.stat().st_size
        lost_at = datetime.now(UTC)
        await _lose_and_restore(cfg, target, main, folder, clock)
        await p.start_all(list(main.values()))
        clock.log("five services started on the restored database")
        checks = [_before(c) for c in before]
        checks += await _converge(cfg, env, expected, run_id, offset, t0, plan)
        checks += await _replay_checks(env, run_id, after_backup)
        checks.append(await _same_kpis(env, main["metrics"].url, run_id, kpis_before))
        checks += await _no_resend_checks(env, run_id, handed_before, lost_at,
                                          sms_at_operator(fakesmsc_log, loss_offset))  # fmt: skip
        clock.log("effects checked after the restore")
        return ChaosResult(clock.faults, checks, len(events))
    finally:
        for proc in main.values():
            proc.stop()
        await forget_restores(env)


async def forget_restores(env: dict[str, str]) -> None:
    """The suite's later tests share this database: without the restore's record their
    dispatchers would read Kannel's log before every hand-over for a day."""
    with contextlib.suppress(Exception):
        conn = await asyncpg.connect(env["DATABASE_URL"])
        try:
            await conn.execute("DELETE FROM notifications.restores")
        finally:
            await conn.close()


def _before(check: Check) -> Check:
    return Check(f"before the loss: {check.name}"[:52], check.expected, check.actual, check.ok)


async def _backup(
    cfg: Any, target: backup.Target, run_id: str, clock: _Clock, fault: BackupFault | None
) -> Path:
    """Take a backup mid-stream (with `fault` injected while it runs), until one succeeds:
    a failed attempt deletes its `.partial` folder and is simply taken again."""
    for attempt in range(1, 6):
        started = time.monotonic()
        into = cfg.state_dir / "backups" / run_id
        taking = asyncio.create_task(backup.take(target, into))
        if fault is not None and attempt == 1:
            await fault(cfg, clock)
        try:
            folder = await taking
        except Exception as exc:
            clock.log(f"backup attempt {attempt} failed: {type(exc).__name__}: {str(exc)[:80]}")
            await asyncio.sleep(2)
            continue
        manifest = backup.load(folder)
        groups = len(manifest["kafka_offsets"])
        clock.log(f"backup {attempt} taken and checked in {time.monotonic() - started:.1f}s: "
                  f"{manifest['verified']['rows']} rows, offsets of {groups} groups")  # fmt: skip
        return folder
    raise AssertionError("no backup succeeded in 5 attempts")


async def _lose_and_restore(
    cfg: Any, target: backup.Target, main: dict[str, p.ServiceProcess], folder: Path,
    clock: _Clock,
) -> None:  # fmt: skip
    for proc in main.values():
        proc.stop()
    await asyncio.to_thread(postgres.stop_postgres, cfg)
    await asyncio.to_thread(postgres.wipe, cfg)
    await asyncio.to_thread(postgres.start_postgres, cfg)
    clock.log("the loss: services stopped, PostgreSQL's data deleted, an empty cluster started")
    started = time.monotonic()
    await restore_once_groups_empty(target, folder)
    clock.log(f"restored {folder.name} in {time.monotonic() - started:.1f}s "
              "(database, consumer group offsets)")  # fmt: skip


async def restore_once_groups_empty(target: backup.Target, folder: Path) -> None:
    """`backup.restore`, as soon as the stopped services' consumer groups have no members."""
    deadline = time.monotonic() + 60
    while True:  # the stopped consumers' groups may take a moment to be empty
        try:
            await backup.restore(target, folder)
            return
        except backup_kafka.GroupBusy:
            assert time.monotonic() < deadline, "consumer groups still have members"
            await asyncio.sleep(1)


async def _handed_after(env: dict[str, str], run_id: str, taken_at: str) -> int:
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM notifications.messages WHERE patient_id LIKE $1"
                " AND template = ANY($2::text[]) AND handed_at > $3",
                f"%{run_id}H%",
                list(PATIENT_TEMPLATES),
                datetime.fromisoformat(taken_at),
            )
        )
    finally:
        await conn.close()


async def _kpi_reports(env: dict[str, str], metrics_url: str, run_id: str) -> dict[str, Any]:
    """The metrics service's KPI report of this month for each of the run's departments."""
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        departments = await conn.fetch(
            "SELECT DISTINCT labels::jsonb ->> 'department' AS d FROM metrics.counter_totals"
            " WHERE labels::jsonb ->> 'department' LIKE $1 ORDER BY 1",
            f"%-{run_id.lower()}",
        )
    finally:
        await conn.close()
    reports = {}
    headers = {"Authorization": f"Bearer {env['TOKEN_ADMIN']}"}
    async with httpx.AsyncClient(base_url=metrics_url, headers=headers, timeout=10) as client:
        for row in departments:
            params = {"period": "month", "department": row["d"]}
            answer = await client.get("/v1/kpi", params=params)
            answer.raise_for_status()
            reports[row["d"]] = [_members(k) for k in answer.json()["kpis"]]
    return reports


def _members(kpi: dict[str, Any]) -> tuple[str, int, int]:
    """A KPI as (key, met, members): a member's window that closes between the two reads
    moves it from pending to missed (a due time passing while the services restart), which
    changes neither the met count nor the members the report counts."""
    return (kpi["key"], kpi["numerator"], kpi["denominator"] + kpi.get("pending", 0))


async def _same_kpis(
    env: dict[str, str], metrics_url: str, run_id: str, before: dict[str, Any]
) -> Check:
    """The KPI reports equal those of the stack before the loss (polled for a while: the
    metrics service may still be replaying when the other effects already match)."""
    deadline = time.monotonic() + 120
    while True:
        after = await _kpi_reports(env, metrics_url, run_id)
        if after == before or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    differ = sorted(d for d in set(before) | set(after) if before.get(d) != after.get(d))
    changed = [(d, sorted(set(before.get(d, [])) ^ set(after.get(d, [])))) for d in differ[:2]]
    return Check(
        "KPI reports (month, the run's departments)",
        f"{len(before)} as before the loss",
        f"{len(before) - len(differ)} the same",
        bool(before) and not differ,
        f"differ: {differ[:3]}; (key, met, members) before ^ after: {changed}",
    )


async def _run_messages(env: dict[str, str], run_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        return await conn.fetch(
            "SELECT id, handed_at, status_reason, to_number FROM notifications.messages"
            " WHERE patient_id LIKE $1 AND channel = 'sms'",
            f"%{run_id}H%",
        )
    finally:
        await conn.close()


async def _handed_ids(env: dict[str, str], run_id: str) -> set[str]:
    return {str(r["id"]) for r in await _run_messages(env, run_id) if r["handed_at"]}


async def _no_resend_checks(
    env: dict[str, str], run_id: str, handed_before: set[str], lost_at: datetime,
    at_operator: Counter[str],
) -> list[Check]:  # fmt: skip
    """By message id (the same before and after: derived from the idempotency key): none
    handed before the loss was handed again after it; and the operator received after the
    loss exactly the SMS sent after it (none of the others' copies)."""
    rows = await _run_messages(env, run_id)
    sent_after = {
        str(r["id"])
        for r in rows
        if r["handed_at"] and r["handed_at"] > lost_at and r["status_reason"] != GATEWAY_LOG_SENT
    }
    phones = {phone_digits(open_(r["to_number"]) or "") for r in rows if r["to_number"]}
    got = sum(n for phone, n in at_operator.items() if phone in phones)
    again = handed_before & sent_after
    return [
        Check("handed before the loss, sent again after it", "0", str(len(again)), not again),
        Check(
            "SMS at the operator after the loss (run's phones)",
            str(len(sent_after)),
            str(got),
            got == len(sent_after),
        ),
    ]


async def _replay_checks(env: dict[str, str], run_id: str, after_backup: int) -> list[Check]:
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        settled = int(
            await conn.fetchval(
                "SELECT count(*) FROM notifications.messages WHERE patient_id LIKE $1"
                " AND status_reason = $2",
                f"%{run_id}H%",
                GATEWAY_LOG_SENT,
            )
        )
    finally:
        await conn.close()
    ids: Counter[str] = Counter()
    for topic in SERVICE_TOPICS:
        for record in await read_all(env["KAFKA_BOOTSTRAP_SERVERS"], topic):
            if record.value and run_id.encode() in record.value:
                with contextlib.suppress(ValueError, KeyError):
                    ids[json.loads(record.value)["id"]] += 1
    again = sum(n - 1 for n in ids.values())
    return [
        Check(
            "SMS handed after the backup: settled, not resent",
            f"> 0 of {after_backup}" if after_backup else "0",
            str(settled),
            (settled > 0) == (after_backup > 0),
        ),
        Check(
            "service events published again (same id, skipped)",
            "reported",
            f"{again} of {sum(ids.values())} records",
            True,
        ),
    ]
