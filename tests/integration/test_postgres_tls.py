"""PostgreSQL over TLS. The stack's server answers TLS with a self-signed certificate
(`devstack.postgres.ensure_certificate`). A client that verifies it gets an encrypted
session. The follow-up service, given a DATABASE_URL with `sslmode=verify-full`, plans a task
with every connection of its pool encrypted. Given a certificate it cannot verify, it stops at
start with the reason instead of retrying.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import psutil
import pytest

from hospital_shared import topics
from tests.factories import discharge, to_bytes
from tests.integration.services import RunningService, planned_task, running
from tests.kafka_tools import eventually, publish


def with_tls(dsn: str, **params: str) -> str:
    """`dsn` with its query (the stack's says sslmode=disable) replaced by `params`."""
    return urlunsplit(urlsplit(dsn)._replace(query=urlencode(params)))


def tls_url(stack_env: dict[str, str], ca_file: str) -> str:
    return with_tls(stack_env["DATABASE_URL"], sslmode="verify-full", sslrootcert=ca_file)


async def _session_tls(dsn: str) -> asyncpg.Record:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        )
    finally:
        await conn.close()
    assert row is not None
    return row


async def test_a_client_verifying_the_certificate_gets_an_encrypted_session(stack_env) -> None:  # type: ignore[no-untyped-def]
    secure = await _session_tls(tls_url(stack_env, stack_env["DEVSTACK_POSTGRES_CA_FILE"]))
    assert secure["ssl"] is True
    assert secure["version"] in ("TLSv1.2", "TLSv1.3")
    plain = await _session_tls(stack_env["DATABASE_URL"])
    assert plain["ssl"] is False  # the stack's own URL stays plain; the check above can tell


async def test_a_certificate_from_another_ca_is_refused(stack_env) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OSError, match="certificate verify failed"):
        await _session_tls(tls_url(stack_env, stack_env["DEVSTACK_KAFKA_CA_FILE"]))


@pytest.fixture(scope="module")
def followup_db_tls(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    env = {"DATABASE_URL": tls_url(stack_env, stack_env["DEVSTACK_POSTGRES_CA_FILE"])}
    with running(stack_config, "followup", env) as service:
        yield service


def _local_ports_to(process: psutil.Process, port: int) -> set[int]:
    """The local ports of `process`'s (and its children's) TCP connections to `port`."""
    ports = set()
    for proc in [process, *process.children(recursive=True)]:
        for conn in proc.net_connections(kind="tcp"):
            if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED:
                ports.add(conn.laddr.port)
    return ports


async def test_a_service_works_with_every_database_connection_encrypted(
    followup_db_tls, stack_config, stack_env
) -> None:  # type: ignore[no-untyped-def]
    n = uuid.uuid4().int % 10**6
    event = discharge(n)
    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        topics.DISCHARGES,
        [(event["subject"], to_bytes(event))],
    )
    task_id = f"FU-A{n:06d}"

    task = await eventually(
        lambda: planned_task(followup_db_tls.url, task_id), timeout=60
    )  # consumed, written and read over TLS
    assert task["why"]["source_event_id"] == event["id"]

    assert followup_db_tls.process is not None
    ports = _local_ports_to(psutil.Process(followup_db_tls.process.pid), stack_config.postgres_port)
    assert ports, "the service holds no connection to PostgreSQL"
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        rows = await conn.fetch(
            """SELECT a.client_port, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
               WHERE a.client_port = ANY($1::int[])""",
            sorted(ports),
        )
    finally:
        await conn.close()
    assert {r["client_port"] for r in rows} == ports
    assert all(r["ssl"] for r in rows), [dict(r) for r in rows]


def test_a_service_given_a_certificate_it_cannot_verify_stops_with_the_reason(
    stack_config, stack_env
) -> None:  # type: ignore[no-untyped-def]
    env = {
        # the Kafka listener's CA did not sign PostgreSQL's certificate
        "DATABASE_URL": tls_url(stack_env, stack_env["DEVSTACK_KAFKA_CA_FILE"]),
        "FOLLOWUP_HTTP_PORT": str(stack_config.followup_port + 51),
    }
    service = RunningService(
        stack_config, "followup", env, log_name=f"followup-bad-db-ca-{uuid.uuid4().hex[:8]}"
    )
    try:
        assert service.start().wait_exit(60) != 0
    finally:
        service.stop()
    assert "PostgreSQL's TLS certificate did not verify" in service.log
    assert "database not reachable yet" not in service.log
