"""Benchmark (not a test) of the staff console's pages over a realistic backlog: 10,000 open
follow-up tasks and 5,000 complaint cases (each with its time limits), the console and the
services as processes on the test stack (`DEVSTACK_TEST_PORT_OFFSET` picks it, as for tests).

    DEVSTACK_TEST_PORT_OFFSET=13000 uv run python bench/console_render.py \
        [--requests 60] [--out bench/console_render_results.json]

For each page: p50 / p95 / max of the whole render (the console's calls to the services and
their SQL included), requests one at a time from a signed-in session, after warm-up. Then the
EXPLAIN (ANALYZE, BUFFERS) plans of the queries behind the worklist (follow-up
`queries.open_tasks_of`, `queries.list_tasks` for a supervisor) and the case queue
(complaints `repository.list_cases` as the console calls it, and `deadlines_of`, run once per
listed case), with the SQL taken from the services' own functions (a recording connection),
so the plans stay those of the code. The backlog is made by copying one case and one task,
made the normal way, in SQL (`jsonb_populate_record` in a LATERAL join: as `(f(...)).*` it ran
once per column, 3 minutes for the tasks), not through the APIs: seeding is not measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

import devstack
from hospital_shared.auth import DEV_TOKENS
from hospital_shared.codec import encode
from hospital_shared.events import Department, Patient, PatientDischarged, make_event

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "services" / s) for s in ("console", "complaints", "followup")]

from complaints import repository as complaint_sql  # noqa: E402
from console.session import SessionStore  # noqa: E402
from followup import queries as task_sql  # noqa: E402

OPEN_TASKS, CASES = 10_000, 5_000
AGENT_TASKS = 200  # the signed-in agent's worklist; the rest spread over 50 colleagues
DEPARTMENTS = ("CS", "CARD", "ORTH", "PED", "RAD")
SERVICES = ("complaints", "followup", "notifications", "metrics", "console")
# The copied cases are past their limits: the timer would fire thousands of alerts (and the
# notifications service send them) while pages are timed. Its first pass runs before seeding.
SERVICE_ENV = {"complaints": {"COMPLAINTS_TIMER_INTERVAL_S": "3600"}}


class Recorder:
    """A connection that records the statements a query function sends (and returns none)."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.statements.append((sql, args))
        return []


async def template_case(complaints_url: str) -> str:
    body = {
        "channel": "phone", "description": "候诊时间过长，无人解释", "category": "waiting_time",
        "patient": {"patient_id": "P-BENCH", "name": "测试", "phone": "13900000000"},
        "department": {"code": "CS", "name": "客服中心"},
    }  # fmt: skip
    async with httpx.AsyncClient(base_url=complaints_url, timeout=30) as api:
        r = await api.post("/v1/cases", json=body, headers=_bearer("dev-supervisor-token"))
    r.raise_for_status()
    return str(r.json()["case_number"])


async def template_task(bootstrap: str, db: asyncpg.Connection) -> str:
    """One discharge through Kafka; the follow-up service plans its call (the template)."""
    now = datetime.now(UTC)
    data = PatientDischarged(
        admission_id="A-BENCH", patient=Patient(patient_id="P-BENCH", name="测试", phone="13900000000"),
        department=Department(code="CS", name="客服中心"), admitted_at=now - timedelta(days=3),
        discharged_at=now - timedelta(hours=1), disposition="home",  # type: ignore[arg-type]
    )  # fmt: skip
    event = make_event("patient.discharged", data, source="urn:bench", subject="P-BENCH", time=now)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("hospital.discharges.v1", encode(event), key=b"P-BENCH")
    finally:
        await producer.stop()
    for _ in range(600):
        found = await db.fetchval("SELECT task_id FROM followup.follow_up_tasks LIMIT 1")
        if found:
            return str(found)
        await asyncio.sleep(0.1)
    raise RuntimeError("the follow-up service planned no task")


async def seed(db: asyncpg.Connection, case_number: str, task_id: str) -> None:
    await db.execute(
        """INSERT INTO complaints.cases SELECT r.* FROM complaints.cases c,
             generate_series(1, $3::int) g,
             LATERAL jsonb_populate_record(NULL::complaints.cases, to_jsonb(c) || jsonb_build_object(
               'id', nextval('complaints.cases_id_seq'), 'case_number', 'BN-' || g,
               'external_id', 'bench-' || g, 'department_code', ($2::text[])[1 + g % 5],
               'handling_department', ($2::text[])[1 + g % 5],
               'assignee_id', CASE WHEN g % 5 = 0 THEN 'S-AGENT-01' ELSE 'B-STAFF-' || g % 50 END,
               'supervisor_id', CASE WHEN g % 5 = 0 THEN 'S-SUP-01' ELSE 'B-SUP-' || g % 5 END,
               'status', CASE WHEN g % 3 = 0 THEN 'closed' ELSE 'investigating' END,
               'finished_at', CASE WHEN g % 3 = 0 THEN now() - g * interval '1 minute' END,
               'submitted_at', now() - g * interval '7 minutes',
               'opened_at', now() - g * interval '7 minutes')) r
           WHERE c.case_number = $1""",
        case_number, list(DEPARTMENTS), CASES - 1,
    )  # fmt: skip
    await db.execute(
        """INSERT INTO complaints.case_deadlines (case_id, cycle, limit_name, starts_at, due_at,
                                                  warn_at, settled_at, outcome)
           SELECT c.id, 1, d.limit_name, c.submitted_at, c.submitted_at + (d.due_at - d.starts_at),
                  c.submitted_at + (d.warn_at - d.starts_at),
                  CASE WHEN c.status = 'closed' THEN c.finished_at END,
                  CASE WHEN c.status = 'closed' THEN 'met' END
           FROM complaints.cases c
           JOIN complaints.cases t ON t.case_number = $1
           JOIN complaints.case_deadlines d ON d.case_id = t.id
           WHERE c.case_number LIKE 'BN-%'""",
        case_number,
    )
    await db.execute(
        """INSERT INTO followup.follow_up_tasks SELECT r.* FROM followup.follow_up_tasks t,
             generate_series(1, $2::int) g,
             LATERAL jsonb_populate_record(NULL::followup.follow_up_tasks, to_jsonb(t) || jsonb_build_object(
               'task_id', 'BT-' || g, 'source_event_id', 'bench-' || g, 'status', 'assigned',
               'department_code', ($3::text[])[1 + g % 5],
               'assignee_id', CASE WHEN g <= $4 THEN 'S-AGENT-01' ELSE 'B-STAFF-' || g % 50 END,
               'not_before', now() - interval '1 day',
               'due_at', now() + (g % 14 - 3) * interval '1 day')) r
           WHERE t.task_id = $1""",
        task_id, OPEN_TASKS, list(DEPARTMENTS), AGENT_TASKS,
    )  # fmt: skip
    await db.execute("ANALYZE complaints.cases; ANALYZE complaints.case_deadlines;")
    await db.execute("ANALYZE followup.follow_up_tasks")


async def drop_earlier_backlog(db: asyncpg.Connection) -> None:
    """An earlier run's copies, deleted as the retention purge does (the audit trail allows it
    then). The complaints timer's first pass may be firing their alerts: a deadlock is retried."""
    for attempt in range(5):
        try:
            async with db.transaction():
                await db.execute("SET LOCAL complaints.purging = 'on'")
                await db.execute("DELETE FROM complaints.cases WHERE case_number LIKE 'BN-%'")
            break
        except asyncpg.DeadlockDetectedError:
            await asyncio.sleep(1 + attempt)
    await db.execute("DELETE FROM followup.follow_up_tasks WHERE task_id LIKE 'BT-%'")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def session_cookie(database_url: str, token: str) -> str:
    principal = DEV_TOKENS[token]
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "console"})
    try:
        store = SessionStore(conn, idle_s=3600)  # type: ignore[arg-type]
        session = await store.create(
            staff_id=principal.staff_id or "", roles=[principal.role.value],
            department=principal.department, display_name=principal.name or "", access_token=token,
        )  # fmt: skip
        return session.id
    finally:
        await conn.close()


async def time_page(
    console_url: str, cookie: str, path: str, requests: int, warmup: int = 5
) -> dict[str, Any]:
    timings: list[float] = []
    async with httpx.AsyncClient(
        base_url=console_url, cookies={"console_session": cookie}, timeout=60
    ) as client:
        for i in range(warmup + requests):
            start = time.perf_counter()
            resp = await client.get(path)
            elapsed = (time.perf_counter() - start) * 1000
            if resp.status_code != 200:
                return {"path": path, "status": resp.status_code, "skipped": "not 200"}
            if i >= warmup:
                timings.append(elapsed)
    timings.sort()
    return {
        "path": path, "requests": requests, "bytes": len(resp.content),
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 1),
        "max_ms": round(timings[-1], 1),
    }  # fmt: skip


async def explain(db: asyncpg.Connection, schema: str, sql: str, args: tuple[Any, ...]) -> str:
    await db.execute(f"SET search_path = {schema}")
    rows = await db.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
    return "\n".join(r[0] for r in rows)


async def plans(db: asyncpg.Connection) -> dict[str, dict[str, str]]:
    """The worklist's and the case queue's statements, from the services' own functions."""
    now = datetime.now(UTC)
    worklist, supervisor_tasks, queue, deadlines = Recorder(), Recorder(), Recorder(), Recorder()
    await task_sql.open_tasks_of(worklist, "S-AGENT-01")  # type: ignore[arg-type]
    await task_sql.list_tasks(
        supervisor_tasks, scope_assignee="S-SUP-01", scope_department="CS", everything=False,  # type: ignore[arg-type]
        filters=task_sql.TaskFilter(kind="spot_check", status="assigned", department_code="CS"),
        limit=101,
    )  # fmt: skip
    filters = {"status": None, "category": None, "channel": None, "priority": None,
               "department_code": None, "assignee_id": None, "patient_id": None,
               "overdue": None, "open": True, "time_limit": None}  # fmt: skip
    await complaint_sql.list_cases(
        queue, filters=filters, visible_to={"staff_id": "S-SUP-01", "department": "CS"},  # type: ignore[arg-type]
        limit=51, now=now,
    )  # fmt: skip
    breached = Recorder()
    await complaint_sql.list_cases(
        breached, filters={**filters, "time_limit": "breached"},  # type: ignore[arg-type]
        visible_to={"staff_id": "S-SUP-01", "department": "CS"}, limit=101, now=now,
    )  # fmt: skip
    case_id = await db.fetchval("SELECT id FROM complaints.cases WHERE case_number = 'BN-10'")
    await complaint_sql.deadlines_of(deadlines, case_id)  # type: ignore[arg-type]
    chosen = {
        "worklist (follow-up open_tasks_of, GET /v1/worklist)": ("followup", worklist),
        "supervisor's spot checks (follow-up list_tasks)": ("followup", supervisor_tasks),
        "case queue (complaints list_cases, open, supervisor CS)": ("complaints", queue),
        "breaches (complaints list_cases, time_limit=breached)": ("complaints", breached),
        "a listed case's time limits (complaints deadlines_of)": ("complaints", deadlines),
    }
    found = {}
    for name, (schema, rec) in chosen.items():
        sql, args = rec.statements[0]
        found[name] = {"sql": " ".join(sql.split()), "plan": await explain(db, schema, sql, args)}
    return found


async def run(requests: int) -> dict[str, Any]:
    cfg = devstack.StackConfig.for_tests(REPO)
    env = devstack.up(cfg, with_services=False)
    procs = [
        devstack.start_service(cfg, name, SERVICE_ENV.get(name), log_name=f"bench-{name}")
        for name in SERVICES
    ]
    try:
        for name in SERVICES:
            devstack.wait_ready(f"{env[f'{name.upper()}_URL']}/readyz", 120)
        db = await asyncpg.connect(env["DATABASE_URL"])
        try:
            await drop_earlier_backlog(db)
            started = time.perf_counter()
            await seed(db, await template_case(env["COMPLAINTS_URL"]),
                       await template_task(env["KAFKA_BOOTSTRAP_SERVERS"], db))  # fmt: skip
            seeded_s = time.perf_counter() - started
            counts = {
                "open_tasks": await db.fetchval("SELECT count(*) FROM followup.follow_up_tasks"
                                                " WHERE status IN ('planned', 'assigned')"),
                "cases": await db.fetchval("SELECT count(*) FROM complaints.cases"),
                "open_cases": await db.fetchval("SELECT count(*) FROM complaints.cases"
                                                " WHERE finished_at IS NULL"),
            }  # fmt: skip
            cookies = {who: await session_cookie(env["DATABASE_URL"], token) for who, token in (
                ("agent", "dev-agent-token"), ("supervisor", "dev-supervisor-token"),
                ("admin", "dev-admin-token"))}  # fmt: skip
            pages = [
                ("supervisor", "/cases", requests), ("supervisor", "/cases?time_limit=breached", requests),
                ("supervisor", "/cases/BN-10", requests), ("supervisor", "/supervisor", requests),
                ("admin", "/operations?period=month", max(requests // 3, 10)),
                ("agent", "/worklist", requests),
            ]  # fmt: skip
            renders = [
                {"as": who, **await time_page(env["CONSOLE_URL"], cookies[who], path, n)}
                for who, path, n in pages
            ]
            found = await plans(db)
        finally:
            await db.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    load = os.getloadavg()
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1_5_15": [round(x, 2) for x in load],
            "python": platform.python_version(),
        },
        "backlog": counts,
        "seeding_s": round(seeded_s, 1),
        "renders": renders,
        "plans": found,
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "console_render_results.json")
    args = parser.parse_args()
    results = asyncio.run(run(args.requests))
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    for r in results["renders"]:
        print(json.dumps(r, ensure_ascii=False))
    print(f"plans and figures: {args.out}")


if __name__ == "__main__":
    main()
