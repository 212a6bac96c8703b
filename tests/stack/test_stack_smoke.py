"""Smoke test of the native stack (devstack): each component does real work.

Uses the test stack (`StackConfig.for_tests`: `.stack-test`, ports + 10000). When it is not
up yet, this module starts the infrastructure and stops it again at the end.
"""

from __future__ import annotations

import asyncio
import shlex
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from devstack import SERVICES, StackConfig, down, inject_mo, restart_postgres, status, up
from devstack.config import KANNEL_PASSWORD, KANNEL_USERNAME
from devstack.procs import port_open
from hospital_shared.topics import INPUT_PARTITIONS, INPUT_TOPICS, all_topics

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parents[2]
INFRA = ("kafka", "postgres", "bearerbox", "smsbox", "fakesmsc", "prometheus")


def _infra_running(cfg: StackConfig) -> bool:
    current = status(cfg)
    return all(current[name].running for name in INFRA)


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[StackConfig]:
    """The session's test stack when conftest provides one (`stack_env`); else this module
    starts the infrastructure itself, and stops it at the end only if it started it."""
    cfg = StackConfig.for_tests(REPO)
    try:
        request.getfixturevalue("stack_env")
    except pytest.FixtureLookupError:
        pass
    else:
        yield cfg
        return
    started_here = not _infra_running(cfg)
    try:
        up(cfg, with_services=False)
    except BaseException:
        if started_here:
            down(cfg)
        raise
    try:
        yield cfg
    finally:
        if started_here:
            down(cfg)


class Recorder:
    """A tiny HTTP/1.x server on 127.0.0.1 that answers 200 and records each request."""

    def __init__(self) -> None:
        self.requests: asyncio.Queue[tuple[str, dict[str, list[str]]]] = asyncio.Queue()
        self.server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        sock_port: int = self.server.sockets[0].getsockname()[1]
        return sock_port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1")
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            target = request_line.split(" ")[1]
            parts = urlsplit(target)
            # keep raw bytes as latin-1 so a UTF-16BE payload can be re-decoded by the test
            query = parse_qs(parts.query, keep_blank_values=True, encoding="latin-1")
            await self.requests.put((parts.path, query))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()

    async def next(self, timeout: float = 20.0) -> tuple[str, dict[str, list[str]]]:
        return await asyncio.wait_for(self.requests.get(), timeout)

    async def next_to(self, path: str, timeout: float = 20.0) -> dict[str, list[str]]:
        """The query of the next request to `path`; others are passed over (on the
        notifications port: smsbox retrying the receipts of an earlier test's SMS, which
        it keeps sending for 10 minutes)."""

        async def first() -> dict[str, list[str]]:
            while True:
                got, query = await self.requests.get()
                if got == path:
                    return query

        return await asyncio.wait_for(first(), timeout)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    yield rec
    await rec.close()


def test_env_file_lists_the_stack(stack: StackConfig) -> None:
    env = dict(  # as a shell sourcing it reads it: values are quoted where they need to be
        shlex.split(line.removeprefix("export "))[0].split("=", 1)
        for line in stack.env_file.read_text().splitlines()
        if "=" in line
    )
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{stack.kafka_port}"
    assert env["DATABASE_URL"] == (
        f"postgresql://hospital:hospital@127.0.0.1:{stack.postgres_port}/hospital?sslmode=disable"
    )
    assert (
        env["NOTIFICATIONS_KANNEL_URL"]
        == f"http://127.0.0.1:{stack.kannel_sendsms_port}/cgi-bin/sendsms"
    )
    assert env["REGISTRATION_MLLP_PORT"] == str(stack.mllp_port)
    for name in SERVICES:
        assert env[f"{name.upper()}_URL"] == stack.service_url(name)
    for role in ("INTEGRATION", "AGENT", "DOCTOR", "SUPERVISOR", "ADMIN"):
        assert env[f"TOKEN_{role}"]


def test_up_again_reuses_the_running_processes(stack: StackConfig) -> None:
    before = {name: s.pid for name, s in status(stack).items() if name in INFRA}
    up(stack, with_services=False)
    after = {name: s.pid for name, s in status(stack).items() if name in INFRA}
    assert before == after
    assert all(before.values())


async def test_kafka_topics_and_round_trip(stack: StackConfig) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    topic = f"devstack.smoke.{uuid.uuid4().hex[:8]}"
    try:
        described = {t["topic"]: t for t in await admin.describe_topics(list(INPUT_TOPICS))}
        for name in INPUT_TOPICS:
            assert len(described[name]["partitions"]) == INPUT_PARTITIONS
        existing = set(await admin.list_topics())
        assert {spec.name for spec in all_topics()} <= existing
        await admin.create_topics([NewTopic(topic, 3, 1)])

        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"\xe4\xbd\xa0\xe5\xa5\xbd", key=b"p-1")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=stack.kafka_bootstrap,
            group_id=f"smoke-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            msg = await asyncio.wait_for(consumer.getone(), 30)
        finally:
            await consumer.stop()
        assert (msg.key, msg.value.decode()) == (b"p-1", "你好")
    finally:
        await admin.delete_topics([topic])
        await admin.close()


async def test_postgres_answers_as_the_application_role(stack: StackConfig) -> None:
    conn = await asyncpg.connect(stack.database_url)
    try:
        assert await conn.fetchval("select 1") == 1
        assert await conn.fetchval("select current_user") == "hospital"
        owner = await conn.fetchval(
            "select pg_get_userbyid(datdba) from pg_database where datname = 'hospital'"
        )
        assert owner == "hospital"
        assert await conn.fetchval("show fsync") == "on"
    finally:
        await conn.close()


async def test_postgres_restart_from_async_code(stack: StackConfig) -> None:
    conn = await asyncpg.connect(stack.database_url)
    old_pid = status(stack)["postgres"].pid
    try:
        restart_postgres(stack)  # sync, called inside a running event loop on purpose
        with pytest.raises((asyncpg.PostgresError, ConnectionError, OSError)):
            await conn.fetchval("select 1")
    finally:
        await conn.close()
    assert status(stack)["postgres"].pid not in (None, old_pid)
    fresh = await asyncpg.connect(stack.database_url)
    try:
        assert await fresh.fetchval("select 1") == 1
    finally:
        await fresh.close()


async def test_kannel_delivers_to_fakesmsc_and_reports_the_dlr(
    stack: StackConfig, recorder: Recorder
) -> None:
    port = await recorder.start()
    msg_id = uuid.uuid4().hex
    receiver = f"1390000{uuid.uuid4().int % 10000:04d}"
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(
            stack.kannel_sendsms_url,
            params={
                "username": KANNEL_USERNAME,
                "password": KANNEL_PASSWORD,
                "from": "95555",
                "to": receiver,
                "text": "【医院】您的随访已安排",
                "charset": "UTF-8",
                "coding": "2",
                "dlr-mask": "31",
                "dlr-url": f"http://127.0.0.1:{port}/dlr?id={msg_id}&status=%d",
            },
        )
    assert resp.status_code in (200, 202), resp.text
    assert "Accepted for delivery" in resp.text
    path, query = await recorder.next()
    assert path == "/dlr"
    assert query["id"] == [msg_id]
    assert query["status"][0] in ("1", "8")
    # fakesmsc printed the message it got from bearerbox
    log = stack.log_file("fakesmsc")
    for _ in range(50):
        if receiver in log.read_text(errors="replace"):
            break
        await asyncio.sleep(0.1)
    assert f"95555 {receiver} " in log.read_text(errors="replace")


async def test_kannels_logs_name_our_message_but_hold_no_number_or_text(
    stack: StackConfig, recorder: Recorder
) -> None:
    """bearerbox's access log names the message by the `account` the notifications service
    gives (its id), without the number or the text; smsbox (at info it logs every sendsms
    with both) and bearerbox log neither; every Kannel log is the stack user's alone."""
    port = await recorder.start()
    account = str(uuid.uuid4())
    receiver = f"1390000{uuid.uuid4().int % 10000:04d}"
    text = f"secret-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(
            stack.kannel_sendsms_url,
            params={
                "username": KANNEL_USERNAME, "password": KANNEL_PASSWORD, "from": "95555",
                "to": receiver, "text": text, "dlr-mask": "31", "account": account,
                "dlr-url": f"http://127.0.0.1:{port}/dlr?id={account}&status=%d",
            },
        )  # fmt: skip
    assert "Accepted for delivery" in resp.text
    await recorder.next()  # the receipt came: bearerbox has logged the message
    access = stack.kannel_access_log.read_text(errors="replace")
    assert f"Sent SMS [SMSC:fake] [SVC:{KANNEL_USERNAME}] [ACT:{account}]" in access
    for name in ("kannel-access", "bearerbox", "smsbox"):
        logged = stack.log_file(name).read_text(errors="replace")
        assert receiver not in logged and text not in logged, name
        assert stack.log_file(name).stat().st_mode & 0o077 == 0, name
    assert stack.log_file("fakesmsc").stat().st_mode & 0o077 == 0


def test_the_access_log_is_rotated_when_bearerbox_starts_past_its_size(tmp_path: Path) -> None:
    from devstack import kannel

    cfg = StackConfig(state_dir=tmp_path)
    cfg.logs_dir.mkdir()
    log = cfg.kannel_access_log
    log.write_bytes(b"x" * (kannel.ACCESS_LOG_ROTATE_BYTES + 1))
    for n in range(1, kannel.ACCESS_LOG_KEEP + 1):
        Path(f"{log}.{n}").write_text(f"older {n}")
    kannel.prepare_logs(cfg)
    assert log.stat().st_size == 0 and log.stat().st_mode & 0o777 == 0o600
    assert Path(f"{log}.1").stat().st_size == kannel.ACCESS_LOG_ROTATE_BYTES + 1
    assert Path(f"{log}.2").read_text() == "older 1"
    assert not Path(f"{log}.{kannel.ACCESS_LOG_KEEP + 1}").exists()
    kannel.prepare_logs(cfg)  # small now: left as it is
    assert Path(f"{log}.2").read_text() == "older 1"


async def test_kannel_forwards_mo_replies_to_notifications(
    stack: StackConfig, recorder: Recorder
) -> None:
    if port_open(stack.notifications_port):
        pytest.skip("the notifications service runs: it receives the MO itself")
    await recorder.start(stack.notifications_port)
    await asyncio.to_thread(inject_mo, stack, "13800138000", "95555", "退订", ucs2=True)
    query = await recorder.next_to("/v1/sms/inbound")
    assert query["from"] == ["13800138000"] and query["to"] == ["95555"]
    assert query["coding"] == ["2"]
    assert query["text"][0].encode("latin-1").decode("utf-16-be") == "退订"
    await asyncio.to_thread(inject_mo, stack, "13800138001", "95555", "STOP")
    query = await recorder.next_to("/v1/sms/inbound")
    assert query["text"] == ["STOP"] and query["from"] == ["13800138001"]


async def test_prometheus_scrapes_the_five_services(stack: StackConfig) -> None:
    async with httpx.AsyncClient(base_url=stack.prometheus_url, timeout=10) as client:
        assert (await client.get("/-/ready")).status_code == 200
        config = (await client.get("/api/v1/status/config")).json()["data"]["yaml"]
        for name in SERVICES:
            assert f"job_name: {name}" in config
        jobs: dict[str, str] = {}
        for _ in range(60):  # target discovery syncs a few seconds after the start
            targets = (await client.get("/api/v1/targets")).json()["data"]["activeTargets"]
            jobs = {t["labels"]["job"]: t["scrapeUrl"] for t in targets}
            if set(SERVICES) <= set(jobs):
                break
            await asyncio.sleep(0.5)
        for name in SERVICES:
            assert jobs[name] == f"{stack.service_url(name)}/metrics"
