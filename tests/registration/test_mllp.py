"""The MLLP listener itself on a real socket: framing, several messages per connection,
allow-listed sources, TLS, and staying up whatever a client sends."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import subprocess
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from registration.mllp import END, START, MllpServer, Network, source_allowed
from tests.registration.messages import adt
from tests.registration.test_hl7 import FakeStore, handler, parse_ack

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


async def echo_ack(payload: bytes) -> bytes:
    return b"ACK:" + payload


async def exchange(port: int, *frames: bytes, ssl_ctx: ssl.SSLContext | None = None) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_ctx)
    replies = []
    try:
        for f in frames:
            writer.write(f)
            await writer.drain()
            replies.append(await asyncio.wait_for(reader.readuntil(END), 5))
    finally:
        writer.close()
    return replies


async def reply_before_close(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before closing (a reset counts as nothing sent)."""
    try:
        return await asyncio.wait_for(reader.read(), 5)
    except (ConnectionResetError, ssl.SSLError):
        return b""


@pytest.fixture
async def server() -> AsyncIterator[MllpServer]:
    srv = MllpServer(echo_ack, host="127.0.0.1", port=0, max_message_bytes=1000, allowed=LOOPBACK)
    await srv.start()
    yield srv
    await srv.stop()


async def test_messages_on_one_connection_are_answered_in_order(server: MllpServer) -> None:
    replies = await exchange(server.port, START + b"one" + END, b"junk" + START + b"two" + END)
    assert replies == [START + b"ACK:one" + END, START + b"ACK:two" + END]


async def test_oversized_message_closes_that_connection_only(server: MllpServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(START + b"x" * 5000)
    await writer.drain()
    assert await reply_before_close(reader) == b""  # closed by the server
    assert await exchange(server.port, START + b"ok" + END) == [START + b"ACK:ok" + END]


async def test_a_failing_handler_does_not_stop_the_listener() -> None:
    async def broken(payload: bytes) -> bytes:
        raise RuntimeError("boom")

    srv = MllpServer(broken, host="127.0.0.1", port=0, allowed=LOOPBACK)
    await srv.start()
    try:
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(START + b"x" + END)
            assert await reply_before_close(reader) == b""
            writer.close()
    finally:
        await srv.stop()


@pytest.mark.parametrize(
    "allowed", [[ipaddress.ip_network("10.0.0.0/8")], []], ids=["other", "none"]
)
async def test_sources_outside_the_allow_list_are_refused(allowed: list[Network]) -> None:
    srv = MllpServer(echo_ack, host="127.0.0.1", port=0, allowed=allowed)  # [] refuses all
    await srv.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(START + b"x" + END)
        assert await reply_before_close(reader) == b""
        writer.close()
    finally:
        await srv.stop()
    assert source_allowed("10.1.2.3", allowed) == bool(allowed)
    assert source_allowed("::ffff:10.1.2.3", allowed) == bool(allowed)
    assert not source_allowed("192.168.1.1", allowed)
    assert not source_allowed("127.0.0.1", [])  # no allow-list: nobody


def self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_listener_answers_tls_clients(tmp_path: Path) -> None:
    from registration.mllp import tls_context

    cert, key = self_signed(tmp_path)
    srv = MllpServer(
        echo_ack, host="127.0.0.1", port=0, ssl_context=tls_context(str(cert), str(key)),
        allowed=LOOPBACK,
    )  # fmt: skip
    await srv.start()
    try:
        client = ssl.create_default_context(cafile=str(cert))
        replies = await exchange(srv.port, START + b"secret" + END, ssl_ctx=client)
        assert replies == [START + b"ACK:secret" + END]
        # a plain-text client gets nothing
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(START + b"plain" + END)
        assert START + b"ACK" not in await reply_before_close(reader)
        writer.close()
    finally:
        await srv.stop()


async def test_pipelined_frames_are_handed_over_together_and_answered_in_order() -> None:
    groups: list[list[bytes]] = []

    async def many(payloads: list[bytes]) -> list[bytes]:
        groups.append(payloads)
        await asyncio.sleep(0.05)  # frames sent meanwhile form the next group
        return [b"ACK:" + p for p in payloads]

    srv = MllpServer(
        echo_ack, host="127.0.0.1", port=0, handle_many=many, max_group=3, allowed=LOOPBACK
    )
    await srv.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"".join(START + str(n).encode() + END for n in range(7)))
        await writer.drain()
        replies = [await asyncio.wait_for(reader.readuntil(END), 5) for _ in range(7)]
        writer.close()
    finally:
        await srv.stop()
    assert replies == [START + b"ACK:" + str(n).encode() + END for n in range(7)]
    assert all(len(g) <= 3 for g in groups) and any(len(g) > 1 for g in groups)


async def test_a_message_given_up_mid_frame_is_not_answered_or_stored_with_the_next() -> None:
    # The sender cut A inside PV1 and sent B on the same connection: one ACK, for B, and
    # only B stored (A's bytes were read as part of B, answered AA under A's MSH-10).
    store = FakeStore()
    hl7_handler = handler(store)
    srv = MllpServer(
        hl7_handler, host="127.0.0.1", port=0, allowed=LOOPBACK, handle_many=hl7_handler.many
    )
    await srv.start()
    try:
        a = adt("A04", "MSG-A", patient_id="P1", visit_id="V1")
        b = adt("A11", "MSG-B", patient_id="P2", visit_id="V2")
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(START + a[: a.index(b"PV1|") + 20])
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(START + b + END)
        await writer.drain()
        reply = await asyncio.wait_for(reader.readuntil(END), 5)
        writer.close()
    finally:
        await srv.stop()
    ack = parse_ack(reply[len(START) : -len(END)])
    assert (str(ack["MSA.F1"]), str(ack["MSA.F2"])) == ("AA", "MSG-B")
    assert [(i.type, i.data.visit_id) for i in store.taken] == [("visit.cancelled", "V2")]  # type: ignore[attr-defined]


# --- what one peer can take -------------------------------------------------------------


def reject(head: bytes, limit: int) -> bytes:
    return b"AR:%d:" % limit + head[:8]


@pytest.fixture
async def capped() -> AsyncIterator[MllpServer]:
    srv = MllpServer(
        echo_ack, host="127.0.0.1", port=0, allowed=LOOPBACK, max_message_bytes=1000,
        reject_oversized=reject, read_timeout_s=0.5, max_connections_per_source=2,
    )  # fmt: skip
    await srv.start()
    yield srv
    await srv.stop()


async def test_an_oversized_frame_is_answered_then_its_connection_closed(
    capped: MllpServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", capped.port)
    writer.write(START + b"MSH|big|" + b"x" * 5000 + END)
    await writer.drain()
    assert await reply_before_close(reader) == START + b"AR:1000:MSH|big|" + END
    writer.close()
    assert await exchange(capped.port, START + b"ok" + END) == [START + b"ACK:ok" + END]


async def test_a_frame_without_an_end_block_is_cut_off_at_the_limit(capped: MllpServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", capped.port)

    async def send_forever() -> None:
        writer.write(START + b"MSH|endless|")
        while True:  # only the server closing the connection ends this
            writer.write(b"x" * 4096)
            await writer.drain()

    sending = asyncio.create_task(send_forever())
    try:
        assert await reply_before_close(reader) == START + b"AR:1000:MSH|endl" + END
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(sending, 10)
    finally:
        sending.cancel()
        writer.close()


async def test_a_frame_not_finished_within_the_read_timeout_is_dropped(
    capped: MllpServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", capped.port)
    writer.write(START + b"MSH|slow")  # and nothing more
    await writer.drain()
    assert await reply_before_close(reader) == b""
    writer.close()


async def test_connections_from_one_source_are_capped(capped: MllpServer) -> None:
    held = [await asyncio.open_connection("127.0.0.1", capped.port) for _ in range(2)]
    for reader, writer in held:  # both taken
        writer.write(START + b"held" + END)
        assert await asyncio.wait_for(reader.readuntil(END), 5) == START + b"ACK:held" + END
    reader, writer = await asyncio.open_connection("127.0.0.1", capped.port)
    writer.write(START + b"third" + END)
    assert await reply_before_close(reader) == b""  # refused
    writer.close()
    held[0][1].close()
    await held[0][1].wait_closed()
    # once one is closed, the source may connect again (the server sees the close first)
    for _ in range(50):
        if (await reply_or_refusal(capped.port)) == START + b"ACK:again" + END:
            break
    else:
        pytest.fail("a closed connection was never given back to its source")
    held[1][1].close()


async def reply_or_refusal(port: int) -> bytes:
    """The ACK, or what came before the connection was closed (nothing when refused)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(START + b"again" + END)
        return await asyncio.wait_for(reader.readuntil(END), 5)
    except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
        return getattr(exc, "partial", b"")
    finally:
        writer.close()


def certificates(tmp: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, both CA-signed."""
    files = {n: tmp / f"{n}.pem" for n in ("ca", "ca-key", "server", "server-key",
                                          "client", "client-key")}  # fmt: skip
    run = partial(subprocess.run, check=True, capture_output=True)
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=test CA", "-keyout", str(files["ca-key"]), "-out", str(files["ca"])])  # fmt: skip
    san = tmp / "san.cnf"
    san.write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        csr = tmp / f"{name}.csr"
        run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
             "-keyout", str(files[f"{name}-key"]), "-out", str(csr)])  # fmt: skip
        run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(files["ca"]),
             "-CAkey", str(files["ca-key"]), "-CAcreateserial", "-days", "1",
             "-extfile", str(san), "-out", str(files[name])])  # fmt: skip
    return files


async def test_tls_with_a_client_ca_takes_only_clients_with_its_certificate(
    tmp_path: Path,
) -> None:
    from registration.mllp import tls_context

    pem = certificates(tmp_path)
    context = tls_context(str(pem["server"]), str(pem["server-key"]), str(pem["ca"]))
    srv = MllpServer(echo_ack, host="127.0.0.1", port=0, ssl_context=context, allowed=LOOPBACK)
    await srv.start()
    try:
        client = ssl.create_default_context(cafile=str(pem["ca"]))
        client.load_cert_chain(str(pem["client"]), str(pem["client-key"]))
        assert await exchange(srv.port, START + b"signed" + END, ssl_ctx=client) == [
            START + b"ACK:signed" + END
        ]
        anonymous = ssl.create_default_context(cafile=str(pem["ca"]))
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            await exchange(srv.port, START + b"anonymous" + END, ssl_ctx=anonymous)
    finally:
        await srv.stop()
