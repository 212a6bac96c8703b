"""Opening a batch of complaints at once (`batch_intake.open_cases`, the Kafka consumer's path)
on the real PostgreSQL gives exactly what opening them one after the other (`open_case`, the
desk's path) gives: the same cases, numbers, assignments, deadlines, audit trail and published
events, in the same order. And through Kafka and the running service: a backlog with
redelivered and re-sent complaints over several days opens each case once, numbered per day,
with its clocks, audit line, case_opened event and (the deadlines being long past) one warning
and one breach per time limit."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from complaints import repository, roster
from complaints.access import Actor
from complaints.batch_intake import Submission, open_cases
from complaints.intake import NewComplaint, number_allocator, numbers_allocator, open_case
from complaints.policy import CasePolicy, default_rules
from complaints.rulebook import category_rules, seed_rules
from hospital_shared import db, field_crypto, topics
from tests.factories import envelope, to_bytes
from tests.integration.services import RunningService
from tests.kafka_tools import eventually, json_values, publish, read_all

MIGRATIONS = Path(__file__).resolve().parents[2] / "services/complaints/migrations"
POLICY = CasePolicy(limit_rules=default_rules(), tz=ZoneInfo("Asia/Shanghai"))
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 11:00 in the hospital
STAFF = [  # two cardiology doctors and their supervisor; the desk's agent and supervisor
    ("S-CARD-B", "CARD", "doctor"),
    ("S-CARD-A", "CARD", "doctor"),
    ("S-CARD-SUP", "CARD", "supervisor"),
    ("S-DESK-AGENT", "CS", "agent"),
    ("S-DESK-SUP", "CS", "supervisor"),
]


def complaint(n: int, *, days_ago: float, **over: Any) -> Submission:
    fields: dict[str, Any] = {
        "channel": "online",
        "external_id": f"HIS-{n}",
        "description": "医生态度很差",
        "submitted_at": NOW - timedelta(days=days_ago),
        "patient_id": f"P{n % 4}",
        "patient_name": "张三",
        "patient_phone": "13800138000",
        "department_code": "CARD",
        "department_name": "心内科",
        "source_event_id": f"E-{n}",
        "correlation_id": f"C-{n}",
    }
    return Submission(NewComplaint(**(fields | over)), Actor("system:urn:his:a", "integration"))


# Three local days; a duplicate (channel, external id) within the batch; one already open;
# serious ones (to a supervisor); a department without staff (to the desk); a submitted
# category; a complaint lodged after midnight UTC but the next local day.
BATCH = [
    complaint(1, days_ago=3),
    complaint(2, days_ago=1, description="候诊排队等了三个小时"),
    complaint(3, days_ago=3, description="家属认为是医疗事故，要求调查"),
    complaint(1, days_ago=3, description="again, redelivered with another event id"),
    complaint(4, days_ago=2, department_code="ORTHO", department_name="骨科"),
    complaint(5, days_ago=1, category="billing"),
    complaint(6, days_ago=3),
    complaint(7, days_ago=1, description="做了CT报告有误"),
    complaint(8, days_ago=2, department_code=None, department_name=None, patient_id=None),
    complaint(9, days_ago=3, description="医疗事故"),
    complaint(10, days_ago=0.2),
    complaint(0, days_ago=5),  # opened before the batch
]


async def _schema(dsn: str) -> str:
    schema = f"batchtest_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    try:
        folders = {"shared": db.SHARED_MIGRATIONS, "complaints": MIGRATIONS}
        await db.migrate(conn, schema=schema, folders=folders)
    finally:
        await conn.close()
    pool = await db.create_pool(dsn, schema=schema, max_size=3)
    async with pool.acquire() as conn:
        await seed_rules(conn)
        for staff_id, department, role in STAFF:
            await roster.upsert_staff(
                conn, staff_id, department_code=department, role=role, active=True, source="seed"
            )
        # One open case for S-CARD-A already: the first cardiology case goes to S-CARD-B.
        await conn.execute(
            "INSERT INTO cases (case_number, channel, external_id, description, category,"
            " category_source, classification, serious, complex, priority, status, assignee_id,"
            " submitted_at, opened_at, opened_by) VALUES ('OLD-1', 'phone', 'OLD-1', 'x',"
            " 'other', 'default', 'x', false, false, 'normal', 'received', 'S-CARD-A', $1, $1,"
            " 'seed')",
            NOW,
        )
    await pool.close()
    return schema


@pytest.fixture
async def pools(stack_env: dict[str, str]) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    dsn = stack_env["DATABASE_URL"]
    schemas = [await _schema(dsn), await _schema(dsn)]
    opened = [await db.create_pool(dsn, schema=s, max_size=3) for s in schemas]
    try:
        yield opened[0], opened[1]
    finally:
        for pool in opened:
            await pool.close()
        conn = await asyncpg.connect(dsn)
        for s in schemas:
            await conn.execute(f'DROP SCHEMA "{s}" CASCADE')
        await conn.close()


async def _one_by_one(pool: asyncpg.Pool, submissions: list[Submission]) -> None:
    allocate = number_allocator(lambda: pool)
    for s in submissions:
        async with pool.acquire() as conn, conn.transaction():
            rules = await category_rules(conn)
            await open_case(
                conn, POLICY, rules, s.complaint, allocate=allocate, actor=s.actor, now=NOW
            )


async def _as_batch(pool: asyncpg.Pool, submissions: list[Submission]) -> list[Any]:
    async with pool.acquire() as conn, conn.transaction():
        rules = await category_rules(conn)
        return await open_cases(
            conn,
            POLICY,
            rules,
            submissions,
            allocate_many=numbers_allocator(lambda: pool),
            now=NOW,
        )


async def _state(pool: asyncpg.Pool) -> dict[str, Any]:
    """Everything an opening leaves behind, without the ids a database hands out."""
    async with pool.acquire() as conn:
        # sealed columns opened: each seal has its own random nonce (field_crypto)
        opened = field_crypto.cipher().open
        cases = [
            {
                k: opened(v) if isinstance(v, str) else v
                for k, v in dict(r).items()
                if k not in ("id", "updated_at")
            }
            for r in await conn.fetch("SELECT * FROM cases ORDER BY id")
        ]
        deadlines = [
            dict(r)
            for r in await conn.fetch(
                "SELECT c.case_number, d.cycle, d.limit_name, d.starts_at, d.due_at, d.warn_at"
                " FROM case_deadlines d JOIN cases c ON c.id = d.case_id"
                " ORDER BY c.id, d.due_at"
            )
        ]
        audit = [
            dict(r)
            for r in await conn.fetch(
                "SELECT c.case_number, a.at, a.actor_id, a.actor_role, a.action, a.from_status,"
                " a.to_status, a.detail FROM case_audit a JOIN cases c ON c.id = a.case_id"
                " ORDER BY a.id"
            )
        ]
        outbox = []
        for r in await conn.fetch("SELECT topic, key, payload FROM outbox ORDER BY id"):
            event = json.loads(bytes(r["payload"]))
            del event["id"]  # a new uuid per event
            outbox.append((r["topic"], r["key"], event))
        counters = {
            r["day"]: r["last_number"]
            for r in await conn.fetch("SELECT * FROM case_number_counters")
        }
    return {"cases": cases, "deadlines": deadlines, "audit": audit, "outbox": outbox} | {
        "counters": counters
    }


async def test_a_batch_opens_exactly_the_cases_one_by_one_would(pools) -> None:  # type: ignore[no-untyped-def]
    one_by_one, batch = pools
    for pool in pools:  # HIS-0 was opened before the batch came
        await _one_by_one(pool, BATCH[-1:])

    await _one_by_one(one_by_one, BATCH)
    outcomes = await _as_batch(batch, BATCH)

    expected, got = await _state(one_by_one), await _state(batch)
    for part in ("cases", "deadlines", "audit", "outbox", "counters"):
        assert got[part] == expected[part], part

    # And what that is, spelled out: one case per (channel, external id), numbered per
    # hospital-local day in the order the complaints came.
    by_id = {c["external_id"]: c for c in got["cases"]}
    assert len(got["cases"]) == 1 + 11  # the old one, ten new, HIS-0 from before
    assert [o.created for o in outcomes] == [True] * 3 + [False] + [True] * 7 + [False]
    assert outcomes[3].case_number == by_id["HIS-1"]["case_number"] == "TS-20261120-0001"
    numbers = [by_id[f"HIS-{n}"]["case_number"] for n in (3, 6, 9, 4, 8, 2, 5, 7, 10)]
    assert numbers == [
        "TS-20261120-0002", "TS-20261120-0003", "TS-20261120-0004",
        "TS-20261121-0001", "TS-20261121-0002",
        "TS-20261122-0001", "TS-20261122-0002", "TS-20261122-0003",
        "TS-20261123-0001",
    ]  # fmt: skip
    assert by_id["HIS-0"]["case_number"] == "TS-20261118-0001"
    # Least loaded, counting the batch's own cases (ties to the first staff id): S-CARD-A had
    # one open case already, so HIS-0 went to S-CARD-B; serious cases to the supervisor; the
    # imaging dispute (HIS-7) to radiology, which has nobody on this roster: the desk.
    assignees = [by_id[f"HIS-{n}"]["assignee_id"] for n in (0, 1, 2, 3, 5, 6, 7, 9, 10)]
    assert assignees == [
        "S-CARD-B", "S-CARD-A", "S-CARD-B", "S-CARD-SUP", "S-CARD-A", "S-CARD-B", "S-DESK-AGENT",
        "S-CARD-SUP", "S-CARD-A",
    ]  # fmt: skip
    assert (by_id["HIS-7"]["handling_department"], by_id["HIS-7"]["supervisor_id"]) == (
        "CS",
        "S-DESK-SUP",
    )
    assert (by_id["HIS-4"]["assignee_id"], by_id["HIS-4"]["handling_department"]) == (
        "S-DESK-AGENT",
        "CS",
    )
    assert by_id["HIS-3"]["priority"] == "urgent" and by_id["HIS-7"]["priority"] == "high"
    assert by_id["HIS-5"]["category_source"] == "submitted"
    # Every new case has its clocks, its audit line and one case_opened event, in order.
    limits = [d["limit_name"] for d in got["deadlines"] if d["case_number"] == numbers[0]]
    assert limits == ["first_response", "complex_answer", "fact_finding"]
    assert [a["case_number"] for a in got["audit"]] == [
        c["case_number"] for c in got["cases"] if c["opened_by"] != "seed"
    ]
    assert [e["subject"] for _, _, e in got["outbox"]] == [a["case_number"] for a in got["audit"]]
    assert {e["type"] for _, _, e in got["outbox"]} == {"complaint.case_opened"}
    assert got["counters"] == {
        datetime(2026, 11, d).date(): n for d, n in ((18, 1), (20, 4), (21, 2), (22, 3), (23, 1))
    }


async def test_serious_complaints_and_medical_disputes_go_to_the_director_as_they_open(
    pools,
) -> None:  # type: ignore[no-untyped-def]
    """Both opening paths (the desk's one by one, the Kafka consumer's batch) hand a serious
    case or medical dispute to the director at once: the case names the director, its audit
    says escalated, and a case_escalated event follows its case_opened one."""
    for pool in pools:
        async with pool.acquire() as conn:
            await roster.upsert_staff(
                conn, "S-DIR-X", department_code="ADM", role="director", active=True, source="seed"
            )
    one_by_one, batch = pools
    await _one_by_one(one_by_one, BATCH[:3])
    await _as_batch(batch, BATCH[:3])
    for pool in pools:
        state = await _state(pool)
        directors = {c["external_id"]: c["director_id"] for c in state["cases"]}
        assert directors == {"OLD-1": None, "HIS-1": None, "HIS-2": None, "HIS-3": "S-DIR-X"}
        serious = next(c["case_number"] for c in state["cases"] if c["external_id"] == "HIS-3")
        assert [a["action"] for a in state["audit"] if a["case_number"] == serious] == [
            "opened",
            "escalated",
        ]
        events = [e["type"] for _, _, e in state["outbox"] if e["subject"] == serious]
        assert events == ["complaint.case_opened", "complaint.case_escalated"]
        # The director's clock waits for a proposal to decide.
        assert "director_decision" not in {
            d["limit_name"] for d in state["deadlines"] if d["case_number"] == serious
        }


async def test_a_batch_hands_its_serious_cases_to_the_directors_as_one_by_one_would(
    pools,
) -> None:  # type: ignore[no-untyped-def]
    """The batch's escalations at opening (in bulk, `escalate_opened_cases`) choose the same
    director for each case as opening them one after the other does (the least loaded,
    counting the batch's own, ties to the first staff id), with the same audit lines and
    case_escalated events; the batch writes them after its openings, in the cases' order."""
    serious = [
        complaint(3, days_ago=3, description="家属认为是医疗事故，要求调查"),
        complaint(11, days_ago=2, description="误诊，耽误了治疗"),
        complaint(12, days_ago=1, category="medical_quality"),
        complaint(9, days_ago=3, description="医疗事故"),
        complaint(13, days_ago=1, description="手术失误"),
    ]
    submissions = [BATCH[0], serious[0], BATCH[1], *serious[1:], BATCH[4]]
    for pool in pools:
        async with pool.acquire() as conn:
            for director in ("S-DIR-B", "S-DIR-A"):
                await roster.upsert_staff(
                    conn, director, department_code="ADM", role="director", active=True,
                    source="seed",
                )  # fmt: skip
            # S-DIR-A already has an open escalated case.
            await conn.execute(
                "UPDATE cases SET director_id = 'S-DIR-A' WHERE external_id = 'OLD-1'"
            )
    one_by_one, batch = pools
    await _one_by_one(one_by_one, submissions)
    await _as_batch(batch, submissions)
    expected, got = await _state(one_by_one), await _state(batch)
    assert got["cases"] == expected["cases"]

    def per_case(state: dict[str, Any]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
        audit: dict[str, list[Any]] = {}
        for a in state["audit"]:  # the escalation's note sealed, each with its own nonce
            detail = json.loads(a["detail"])
            detail["note"] = field_crypto.cipher().open(detail.get("note"))
            audit.setdefault(a["case_number"], []).append(a | {"detail": detail})
        events: dict[str, list[Any]] = {}
        for entry in state["outbox"]:
            events.setdefault(entry[2]["subject"], []).append(entry)
        return audit, events

    assert per_case(got) == per_case(expected)
    directors = {c["external_id"]: c["director_id"] for c in got["cases"]}
    assert [directors[s.complaint.external_id] for s in serious] == [
        "S-DIR-B", "S-DIR-A", "S-DIR-B", "S-DIR-A", "S-DIR-B",
    ]  # fmt: skip
    assert {directors[s.external_id] for s in (BATCH[0].complaint, BATCH[1].complaint)} == {None}
    escalated = [e["subject"] for _, _, e in got["outbox"] if e["type"].endswith("escalated")]
    number = {c["external_id"]: c["case_number"] for c in got["cases"]}
    assert escalated == [number[s.complaint.external_id] for s in serious]
    types = [e["type"] for _, _, e in got["outbox"]]
    assert types == ["complaint.case_opened"] * 8 + ["complaint.case_escalated"] * 5


# --- the same through Kafka and the running service ------------------------------------------


async def test_deadlines_and_audit_lines_belong_to_a_case_and_go_with_it(pools) -> None:  # type: ignore[no-untyped-def]
    """Checked per statement (migration 002), as the foreign keys did per row: a deadline or
    an audit line of no case is refused, a deadline cannot move to another case, and deleting
    cases deletes theirs (the audit's only in the retention purge)."""
    pool, _ = pools
    async with pool.acquire() as conn, conn.transaction():
        (outcome,) = await open_cases(
            conn, POLICY, await category_rules(conn), [complaint(1, days_ago=1)],
            allocate_many=numbers_allocator(lambda: pool), now=NOW,
        )  # fmt: skip
    case_id = await pool.fetchval(
        "SELECT id FROM cases WHERE case_number = $1", outcome.case_number
    )
    missing = case_id + 1000
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.ForeignKeyViolationError, match=f"case id {missing}"):
            await conn.execute(
                "INSERT INTO case_deadlines (case_id, cycle, limit_name, starts_at, due_at,"
                " warn_at) SELECT $1::bigint, 1, 'x', now(), now(), now()"
                " UNION ALL SELECT $2::bigint, 1, 'x', now(), now(), now()",
                case_id, missing,
            )  # fmt: skip
        with pytest.raises(asyncpg.ForeignKeyViolationError, match=f"case id {missing}"):
            await conn.execute(
                "INSERT INTO case_audit (case_id, actor_id, actor_role, action)"
                " VALUES ($1, 'a', 'admin', 'note')",
                missing,
            )
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="case_id cannot change"):
            await conn.execute("UPDATE case_deadlines SET case_id = $1", missing)
        deadlines = "SELECT count(*) FROM case_deadlines WHERE case_id = $1"
        audit = "SELECT count(*) FROM case_audit WHERE case_id = $1"
        assert await conn.fetchval(deadlines, case_id) > 0
        assert await conn.fetchval(audit, case_id) == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("DELETE FROM cases WHERE id = $1", case_id)
        async with conn.transaction():
            await conn.execute("SET LOCAL complaints.purging = 'on'")
            await conn.execute("DELETE FROM cases WHERE id = $1", case_id)
        assert await conn.fetchval(deadlines, case_id) == 0
        assert await conn.fetchval(audit, case_id) == 0


async def test_new_cases_are_staged_in_their_own_transaction_only(pools) -> None:  # type: ignore[no-untyped-def]
    """A batch's cases go through the connection's staging table (binary COPY,
    `repository.insert_new_cases`): the next batch on the same connection inserts its own
    cases only, whether the one before committed or rolled back, the table is empty after
    each, and outside a transaction (where the COPY's rows would be gone at once and nothing
    inserted) it refuses."""
    pool, _ = pools

    async def batch(conn: asyncpg.Connection, *numbers: int) -> list[Any]:
        return await open_cases(
            conn, POLICY, await category_rules(conn),
            [complaint(n, days_ago=1) for n in numbers],
            allocate_many=numbers_allocator(lambda: pool), now=NOW,
        )  # fmt: skip

    async with pool.acquire() as conn:
        async with conn.transaction():
            first = await batch(conn, 21, 22)
        with pytest.raises(RuntimeError, match="rolled back"):
            async with conn.transaction():
                await batch(conn, 23)
                raise RuntimeError("rolled back")
        async with conn.transaction():
            second = await batch(conn, 24)
            assert await conn.fetchval("SELECT count(*) FROM new_cases_staged") == 1
        assert await conn.fetchval("SELECT count(*) FROM new_cases_staged") == 0
        opened = await conn.fetch(
            "SELECT external_id FROM cases WHERE external_id LIKE 'HIS-2_' ORDER BY id"
        )
        with pytest.raises(RuntimeError, match="in one transaction"):
            await repository.insert_new_cases(conn, [{"case_number": "TS-X"}])
    assert [o.created for o in first + second] == [True, True, True]
    assert [r["external_id"] for r in opened] == ["HIS-21", "HIS-22", "HIS-24"]


async def test_a_batch_retried_on_a_new_connection_after_its_first_try_rolled_back(  # type: ignore[no-untyped-def]
    pools, stack_env
) -> None:
    """A connection's first batch fails after its staging table was created: the table goes
    with the rollback, but not the statements asyncpg prepared on it; the retry on the same
    connection creates the table again and goes through."""
    pool, _ = pools
    schema = await pool.fetchval("SELECT current_schema()")
    conn = await asyncpg.connect(stack_env["DATABASE_URL"], server_settings={"search_path": schema})
    try:
        submissions = [complaint(31, days_ago=1), complaint(32, days_ago=1)]

        async def batch() -> list[Any]:
            return await open_cases(
                conn, POLICY, await category_rules(conn), submissions,
                allocate_many=numbers_allocator(lambda: pool), now=NOW,
            )  # fmt: skip

        with pytest.raises(RuntimeError, match="failed after the insert"):
            async with conn.transaction():
                await batch()
                raise RuntimeError("failed after the insert")
        assert await conn.fetchval("SELECT to_regclass('pg_temp.new_cases_staged')") is None
        async with conn.transaction():
            outcomes = await batch()
    finally:
        await conn.close()
    assert [o.created for o in outcomes] == [True, True]
    assert await pool.fetchval("SELECT count(*) FROM cases WHERE external_id LIKE 'HIS-3_'") == 2


@pytest.fixture(scope="module")
def complaints(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    # The backlog below was lodged 40-42 days ago: past the default oldest submission (30).
    service = RunningService(stack_config, "complaints").start(
        COMPLAINTS_TIMER_INTERVAL_S="0.2", COMPLAINTS_OLDEST_SUBMISSION_DAYS="60"
    )
    service.wait_ready()
    yield service
    service.stop()


def submitted(n: int, run: str, *, days_ago: int, **over: Any) -> dict[str, Any]:
    data = {
        "external_id": f"K-{run}-{n}",
        "channel": "online",
        "patient": {"patient_id": f"P-{run}", "name": "王五", "phone": "13700137000"},
        "department": {"code": f"K{run}", "name": "批量科"},
        "description": "医生态度很差",
        "submitted_at": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(),
        **over,
    }
    return envelope("complaint.submitted", data, subject=data["external_id"])


async def test_a_backlog_of_complaint_events_opens_each_case_once_numbered_per_day(
    complaints, stack_env
) -> None:  # type: ignore[no-untyped-def]
    run = uuid.uuid4().hex[:6]
    bootstrap, dsn = stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["DATABASE_URL"]
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "complaints"})
    try:
        for staff_id in (f"K{run}-B", f"K{run}-A"):  # a department of two doctors, no cases yet
            await roster.upsert_staff(
                conn, staff_id, department_code=f"K{run}", role="doctor", active=True, source="t"
            )
        days = {
            d: (datetime.now(UTC) - timedelta(days=d)).astimezone(POLICY.tz).date()
            for d in (40, 41, 42)
        }
        before = {
            r["day"]: r["last_number"]
            for r in await conn.fetch(
                "SELECT * FROM case_number_counters WHERE day = ANY($1)", list(days.values())
            )
        }
        events = [
            submitted(1, run, days_ago=41),
            submitted(2, run, days_ago=40),
            submitted(3, run, days_ago=41, description="家属认为是医疗事故"),
            submitted(4, run, days_ago=42),
            submitted(5, run, days_ago=41),
            submitted(6, run, days_ago=40),
        ]
        resent = submitted(2, run, days_ago=40)  # the same complaint, another event id
        records = [events[0], *events, resent, events[4]]  # and two redelivered events
        # One patient: one partition, so the service sees them in this order.
        await publish(bootstrap, topics.COMPLAINTS_IN, [(f"P-{run}", to_bytes(e)) for e in records])

        async def opened() -> list[dict[str, Any]] | None:
            rows = await conn.fetch(
                "SELECT * FROM cases WHERE external_id LIKE $1 ORDER BY id", f"K-{run}-%"
            )
            return [dict(r) for r in rows] if len(rows) >= 6 else None

        await eventually(opened, timeout=60)
        # Proof that all of them were consumed: a marker complaint sent after them on the same
        # partition (lodged 30 days ago, so its limits are past too) is open. It is assigned
        # after them, in this run's own department, so it changes no one else's workload.
        marker = submitted(0, run, days_ago=30, external_id=f"M-{run}")
        await publish(bootstrap, topics.COMPLAINTS_IN, [(f"P-{run}", to_bytes(marker))])
        marker_case = "SELECT case_number FROM cases WHERE external_id = $1"
        marker_number = await eventually(lambda: conn.fetchval(marker_case, f"M-{run}"))
        cases = await opened()
        assert cases is not None and [c["external_id"] for c in cases] == [
            f"K-{run}-{n}" for n in range(1, 7)
        ]

        def number(d: int, k: int) -> str:
            return f"TS-{days[d]:%Y%m%d}-{before.get(days[d], 0) + k:04d}"

        assert [c["case_number"] for c in cases] == [
            number(41, 1), number(40, 1), number(41, 2), number(42, 1), number(41, 3),
            number(40, 2),
        ]  # fmt: skip
        # Least loaded in the department, ties to the first staff id; the serious one goes to
        # the desk's supervisor (the department has none).
        assert [c["assignee_id"] for c in cases] == [
            f"K{run}-A", f"K{run}-B", "S-SUP-01", f"K{run}-A", f"K{run}-B", f"K{run}-A",
        ]  # fmt: skip
        assert [c["priority"] for c in cases] == ["normal", "normal", "urgent"] + ["normal"] * 3
        assert all(c["source_event_id"] == e["id"] for c, e in zip(cases, events, strict=True))

        deadlines = await conn.fetch(
            "SELECT c.external_id, d.limit_name, d.starts_at, d.due_at FROM case_deadlines d"
            " JOIN cases c ON c.id = d.case_id WHERE c.external_id LIKE $1",
            f"K-{run}-%",
        )
        limits = {(r["external_id"], r["limit_name"]) for r in deadlines}
        assert limits == {
            (f"K-{run}-{n}", name)
            for n in range(1, 7)
            for name in ("first_response", "fact_finding") + (("complex_answer",) if n == 3 else ())
        }
        for r in deadlines:
            if r["limit_name"] == "first_response":
                assert r["due_at"] - r["starts_at"] == timedelta(hours=24)

        audit = await conn.fetch(
            "SELECT c.external_id, a.actor_id, a.detail FROM case_audit a"
            " JOIN cases c ON c.id = a.case_id WHERE c.external_id LIKE $1"
            " AND a.action = 'opened' ORDER BY a.id",
            f"K-{run}-%",
        )
        assert [(r["external_id"], r["actor_id"]) for r in audit] == [
            (c["external_id"], "system:urn:his:test") for c in cases
        ]
        assert [json.loads(r["detail"])["assignee_id"] for r in audit] == [
            c["assignee_id"] for c in cases
        ]

        # Every deadline is long past: one warning and one breach each, fired by the timer.
        async def alerts() -> int | None:
            n = await conn.fetchval(
                "SELECT count(*) FROM time_limit_alerts a JOIN cases c ON c.id = a.case_id"
                " WHERE c.external_id LIKE $1",
                f"K-{run}-%",
            )
            return int(n) if n >= 2 * len(deadlines) else None

        assert await eventually(alerts, timeout=30) == 2 * len(deadlines)
    finally:
        await conn.close()

    numbers = [c["case_number"] for c in cases]

    async def published() -> list[dict[str, Any]] | None:
        found = [
            e
            for e in json_values(await read_all(bootstrap, topics.COMPLAINT_CASES))
            if e.get("subject") in numbers
        ]
        return found if len(found) >= 6 + 2 * len(deadlines) else None

    await eventually(published, timeout=30)

    async def marker_breached() -> bool:
        events = json_values(await read_all(bootstrap, topics.COMPLAINT_CASES))
        return any(
            e.get("subject") == marker_number and e["type"] == "complaint.time_limit_breached"
            for e in events
        )

    await eventually(marker_breached, timeout=30)  # a timer pass after theirs, published after
    out = await published()
    assert out is not None
    opened_events = [e for e in out if e["type"] == "complaint.case_opened"]
    assert [e["subject"] for e in opened_events] == numbers  # once each, in order
    assert [e["data"]["assignee_id"] for e in opened_events] == [c["assignee_id"] for c in cases]
    assert [e["correlationid"] for e in opened_events] == [e["id"] for e in events]
    alerts_out = sorted(
        (e["subject"], e["data"]["limit"], e["data"]["level"])
        for e in out
        if e["type"].startswith("complaint.time_limit_")
    )
    assert alerts_out == sorted(
        (c["case_number"], r["limit_name"], level)
        for c in cases
        for r in deadlines
        if r["external_id"] == c["external_id"]
        for level in ("warning", "breach")
    )
