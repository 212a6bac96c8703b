"""What one MLLP peer can cost the registration service, on real service processes over real
sockets: huge messages are read off the event loop (it answers /healthz meanwhile), a frame
over the size limit is answered AR and its connection closed (also one that never ends),
connections per source are capped, an empty allow-list refuses everyone, and TLS can require
a client certificate."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hl7
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import devstack
from tests.integration.services import RunningService
from tests.kafka_tools import eventually
from tests.registration.messages import adt, framed
from tests.registration.test_mllp import certificates

END = b"\x1c\x0d"
PHONE = b"13800138000^PRN^CP"


@dataclass
class Registration:
    """A registration process of its own, on its own ports."""

    http_port: int
    mllp_port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@pytest.fixture(scope="module")
def own_registration(stack_config: Any, stack_env: dict[str, str]) -> Iterator[Any]:
    """Start registration processes with their own settings (and ports); all stopped after."""
    started: list[Registration] = []

    def start(name: str, **env: str) -> Registration:
        shift = 40 + 2 * len(started)
        http_port, mllp_port = (
            stack_config.registration_port + shift,
            stack_config.mllp_port + shift,
        )
        env = {"REGISTRATION_HTTP_PORT": str(http_port),
               "REGISTRATION_MLLP_PORT": str(mllp_port), **env}  # fmt: skip
        log_name = f"registration-{name}"
        proc = devstack.start_service(stack_config, "registration", env, log_name=log_name)
        reg = Registration(http_port, mllp_port, proc, stack_config.log_file(log_name))
        started.append(reg)
        devstack.wait_ready(reg.url, 90, proc=proc, log=reg.log)
        return reg

    yield start
    for reg in started:
        reg.process.terminate()
        reg.process.wait(20)


@pytest.fixture(scope="module")
def roomy(own_registration: Any) -> Registration:
    """Limits raised so a 900 KB message of 150,000 repetitions is read in full; 4 connections
    per source."""
    registration: Registration = own_registration(
        "roomy",
        REGISTRATION_MLLP_MAX_MESSAGE_BYTES="2000000",
        REGISTRATION_HL7_MAX_REPETITIONS="1000000",
        REGISTRATION_MLLP_MAX_CONNECTIONS_PER_SOURCE="4",
    )
    return registration


@pytest.fixture(scope="module")
def service(stack_config: Any, stack_env: dict[str, str]) -> Iterator[RunningService]:
    """The stack's registration service, default limits."""
    svc = RunningService(stack_config, "registration").start()
    svc.wait_ready()
    yield svc
    svc.stop()


def uid() -> str:
    return uuid.uuid4().hex[:10]


def huge(control_id: str) -> bytes:
    """An A04 whose PID-13 repeats 150,000 times (about 900 KB)."""
    message = adt("A04", control_id, patient_id=f"HP{control_id}", visit_id=f"HV{control_id}")
    return message.replace(PHONE, b"~".join([b"138001"] * 150_000))


async def messages_being_read(url: str) -> float:
    async with httpx.AsyncClient(timeout=60) as client:
        text = (await client.get(f"{url}/metrics")).text
    for family in text_string_to_metric_families(text):
        if family.name == "registration_hl7_messages_parsing":
            return float(family.samples[0].value)
    raise AssertionError("no registration_hl7_messages_parsing gauge")


async def read_ack(reader: asyncio.StreamReader) -> hl7.Message:
    raw = await asyncio.wait_for(reader.readuntil(END), 300)
    return hl7.parse(raw[1:-2].decode())


async def open_mllp(
    port: int, ssl_ctx: ssl.SSLContext | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, ssl=ssl_ctx)


async def reply_or_close(port: int, message: bytes, ssl_ctx: ssl.SSLContext | None = None) -> bytes:
    """The ACK to `message`, or what came before the connection was closed."""
    reader, writer = await open_mllp(port, ssl_ctx)
    try:
        writer.write(framed(message))
        return await asyncio.wait_for(reader.readuntil(END), 60)
    except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
        return getattr(exc, "partial", b"")
    finally:
        writer.close()


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(), 60)
    except ConnectionResetError:
        return b""


# --- reading off the event loop -----------------------------------------------------------


async def test_healthz_answers_while_huge_messages_are_read(roomy: Registration) -> None:
    ids = [f"HUGE{uid()}" for _ in range(4)]
    connections = [await open_mllp(roomy.mllp_port) for _ in ids]
    for (_, writer), control_id in zip(connections, ids, strict=True):
        writer.write(framed(huge(control_id)))
    # The service answers /metrics while it reads them, then /healthz, and they are still
    # being read after that answer: it came during the parse, not after.
    await eventually(lambda: messages_being_read(roomy.url), timeout=120, interval=0.05)
    async with httpx.AsyncClient(timeout=60) as client:
        assert (await client.get(f"{roomy.url}/healthz")).status_code == 200
    assert await messages_being_read(roomy.url) >= 1
    acks = [await read_ack(reader) for reader, _ in connections]
    assert [(str(a["MSA.F1"]), str(a["MSA.F2"])) for a in acks] == [("AA", i) for i in ids]
    for _, writer in connections:
        writer.close()


# --- size limit ---------------------------------------------------------------------------


async def test_an_oversized_frame_gets_an_ar_saying_why_then_a_clean_close(
    service: RunningService, stack_config: Any
) -> None:
    control_id = f"BIG{uid()}"
    message = adt("A04", control_id, patient_id="P", visit_id="V")
    message = message.replace(PHONE, b"x" * 300_000)  # over the default 256 KiB
    reader, writer = await open_mllp(stack_config.mllp_port)
    writer.write(framed(message))
    raw = await until_closed(reader)  # the AR, then the end of the connection
    writer.close()
    ack = hl7.parse(raw[1:-2].decode())
    assert (str(ack["MSA.F1"]), str(ack["MSA.F2"])) == ("AR", control_id)
    assert "larger than 262144 bytes" in str(ack.segment("ERR")(8))
    ok = adt("A04", f"OK{uid()}", patient_id="P", visit_id=f"V{uid()}")
    assert b"MSA|AA" in await reply_or_close(stack_config.mllp_port, ok)


async def test_a_frame_without_an_end_block_is_cut_off_at_the_limit(
    service: RunningService, stack_config: Any
) -> None:
    control_id = f"ENDLESS{uid()}"
    start = framed(adt("A04", control_id, patient_id="P", visit_id="V"))[:-2]
    reader, writer = await open_mllp(stack_config.mllp_port)

    async def send_forever() -> None:
        writer.write(start)
        while True:  # only the service closing the connection ends this
            writer.write(b"x" * 65_536)
            await writer.drain()

    sending = asyncio.create_task(send_forever())
    try:
        ack = hl7.parse((await asyncio.wait_for(reader.readuntil(END), 60))[1:-2].decode())
        assert (str(ack["MSA.F1"]), str(ack["MSA.F2"])) == ("AR", control_id)
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(sending, 60)
    finally:
        sending.cancel()
        writer.close()


# --- connections --------------------------------------------------------------------------


async def test_connections_from_one_source_are_capped(roomy: Registration) -> None:
    def message() -> bytes:
        return adt("A04", f"CAP{uid()}", patient_id="P", visit_id=f"V{uid()}")

    held = [await open_mllp(roomy.mllp_port) for _ in range(4)]
    for reader, writer in held:
        writer.write(framed(message()))
        assert str((await read_ack(reader))["MSA.F1"]) == "AA"
    assert await reply_or_close(roomy.mllp_port, message()) == b""  # the fifth: refused
    held[0][1].close()
    await held[0][1].wait_closed()

    async def taken_again() -> bool:
        return b"MSA|AA" in await reply_or_close(roomy.mllp_port, message())

    await eventually(taken_again, timeout=30, interval=0.1)
    for _, writer in held[1:]:
        writer.close()


async def test_an_empty_allow_list_refuses_every_connection(own_registration: Any) -> None:
    closed: Registration = own_registration("no-allow-list", REGISTRATION_MLLP_ALLOWED_SOURCES="")
    message = adt("A04", f"DENY{uid()}", patient_id="P", visit_id="V")
    assert await reply_or_close(closed.mllp_port, message) == b""
    assert "MLLP allow-list empty" in closed.log.read_text()


# --- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return certificates(tmp_path_factory.mktemp("mllp-tls"))


@pytest.fixture(scope="module")
def tls_registration(own_registration: Any, pem: dict[str, Path]) -> Registration:
    registration: Registration = own_registration(
        "tls",
        REGISTRATION_MLLP_TLS_CERT=str(pem["server"]),
        REGISTRATION_MLLP_TLS_KEY=str(pem["server-key"]),
        REGISTRATION_MLLP_TLS_CLIENT_CA=str(pem["ca"]),
    )
    return registration


async def test_mllp_over_tls_takes_only_clients_with_a_certificate_of_its_ca(
    tls_registration: Registration, pem: dict[str, Path]
) -> None:
    client = ssl.create_default_context(cafile=str(pem["ca"]))
    client.load_cert_chain(str(pem["client"]), str(pem["client-key"]))
    control_id = f"TLS{uid()}"
    message = adt("A04", control_id, patient_id="P", visit_id=f"V{uid()}")
    reply = await reply_or_close(tls_registration.mllp_port, message, client)
    ack = hl7.parse(reply[1:-2].decode())
    assert (str(ack["MSA.F1"]), str(ack["MSA.F2"])) == ("AA", control_id)
    # plain text on the TLS port: no ACK, the connection closed
    assert b"MSA" not in await reply_or_close(tls_registration.mllp_port, message)
    anonymous = ssl.create_default_context(cafile=str(pem["ca"]))  # no client certificate
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
        reader, writer = await open_mllp(tls_registration.mllp_port, anonymous)
        try:
            writer.write(framed(message))
            await asyncio.wait_for(reader.readuntil(END), 60)
        finally:
            writer.close()
