"""The SMPP SMSC simulator (devstack/smsc_sim.py) spoken to as Kannel speaks to it, in process:
binds are checked, a submit_sm is answered with an id and, when asked, a delivery receipt in
the standard text form on the same transceiver bind, and the message is logged the way
fakesmsc logs it (the tests' "what the patient received" reads either)."""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import AsyncIterator
from urllib.parse import quote_plus, unquote_to_bytes

import pytest

from devstack import smsc_sim
from devstack.smsc_sim import HEADER, RESP, Smsc, Submit

_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>$")  # as the SMS tests read it


class Esme:
    """A client end of one SMPP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.sequence = reader, writer, 0

    async def send(self, command_id: int, body: bytes = b"") -> int:
        self.sequence += 1
        self.writer.write(smsc_sim.pdu(command_id, self.sequence, body))
        await self.writer.drain()
        return self.sequence

    async def read(self) -> tuple[int, int, int, bytes]:
        header = await asyncio.wait_for(self.reader.readexactly(HEADER.size), 5)
        length, command_id, status, sequence = HEADER.unpack(header)
        return command_id, status, sequence, await self.reader.readexactly(length - HEADER.size)


@pytest.fixture
async def smsc() -> AsyncIterator[tuple[Smsc, int]]:
    state = Smsc("hospital", "smpp-dev")
    server = await smsc_sim.start(state, "127.0.0.1", 0)
    yield state, server.sockets[0].getsockname()[1]
    server.close()


async def connect(port: int) -> Esme:
    return Esme(*await asyncio.open_connection("127.0.0.1", port))


def bind_body(system_id: str, password: str) -> bytes:
    return f"{system_id}\0{password}\0VMA\0".encode() + bytes((0x34, 0, 0)) + b"\0"


def submit_body(to: str, text: str, *, receipt: bool) -> bytes:
    message = text.encode("utf-16-be")
    return (
        b"\0" + bytes((5, 0)) + b"95000\0" + bytes((1, 1)) + to.encode() + b"\0"
        + bytes((0, 0, 0)) + b"\0\0" + bytes((1 if receipt else 0, 0, 8, 0, len(message)))
        + message
    )  # fmt: skip


async def test_a_wrong_password_is_refused_and_the_right_one_binds_a_transceiver(smsc) -> None:  # type: ignore[no-untyped-def]
    state, port = smsc
    esme = await connect(port)
    await esme.send(smsc_sim.BIND_TRANSCEIVER, bind_body("hospital", "wrong"))
    command_id, status, _, _ = await esme.read()
    assert (command_id, status) == (smsc_sim.BIND_TRANSCEIVER | RESP, smsc_sim.ESME_RINVPASWD)
    await esme.send(smsc_sim.BIND_TRANSCEIVER, bind_body("hospital", "smpp-dev"))
    command_id, status, _, body = await esme.read()
    assert (command_id, status, body) == (smsc_sim.BIND_TRANSCEIVER | RESP, 0, b"devstack-smsc\0")
    assert state.counters.binds == 1


async def test_a_submit_is_answered_with_an_id_and_a_delivered_receipt_on_the_same_bind(
    smsc, capsys
) -> None:  # type: ignore[no-untyped-def]
    state, port = smsc
    esme = await connect(port)
    await esme.send(smsc_sim.BIND_TRANSCEIVER, bind_body("hospital", "smpp-dev"))
    await esme.read()
    sequence = await esme.send(
        smsc_sim.SUBMIT_SM, submit_body("8613900000001", "您好 复诊", receipt=True)
    )
    command_id, status, answered, body = await esme.read()
    assert (command_id, status, answered) == (smsc_sim.SUBMIT_SM | RESP, 0, sequence)
    message_id = body.rstrip(b"\0").decode()
    command_id, _, receipt_seq, body = await esme.read()
    assert command_id == smsc_sim.DELIVER_SM
    receipt = smsc_sim.parse_submit(body)  # deliver_sm has submit_sm's layout
    assert receipt.esm_class == smsc_sim.RECEIPT
    assert receipt.source[2] == "8613900000001" and receipt.destination[2] == "95000"
    text = receipt.short_message.decode()
    assert (
        text.startswith(f"id:{message_id} sub:001 dlvrd:001 ") and " stat:DELIVRD err:000" in text
    )
    esme.writer.write(struct.pack(">IIII", 16, smsc_sim.DELIVER_SM | RESP, 0, receipt_seq))
    await esme.send(smsc_sim.ENQUIRE_LINK)  # answered after the receipt's answer was read
    assert (await esme.read())[0] == smsc_sim.ENQUIRE_LINK | RESP
    assert (state.counters.submits, state.counters.receipts_sent) == (1, 1)
    assert state.counters.receipts_acked == 1
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if "Got message" in ln]
    sender, to, kind, logged = _GOT.search(line).groups()  # type: ignore[union-attr]
    assert (sender, to, kind) == ("95000", "+8613900000001", "ucs-2")
    assert unquote_to_bytes(logged.replace("+", "%20")).decode("utf-16-be") == "您好 复诊"


def test_a_part_of_a_concatenated_sms_is_logged_with_its_header() -> None:
    udh = bytes((5, 0, 3, 7, 2, 1))
    sm = Submit(
        (5, 0, "95000"), (1, 1, "8613900000001"), 0x40, 1, 8, udh + "第一部分".encode("utf-16-be")
    )
    *_, kind, rest = _GOT.search(smsc_sim.logged(3, sm)).groups()  # type: ignore[union-attr]
    assert kind == "udh"
    header, data_word, payload = rest.split(" ", 2)
    assert (unquote_to_bytes(header), data_word) == (udh, "data")
    assert unquote_to_bytes(payload.replace("+", "%20")).decode("utf-16-be") == "第一部分"


async def test_a_submit_on_a_receiver_bind_is_refused(smsc) -> None:  # type: ignore[no-untyped-def]
    _, port = smsc
    esme = await connect(port)
    await esme.send(smsc_sim.BIND_RECEIVER, bind_body("hospital", "smpp-dev"))
    await esme.read()
    await esme.send(smsc_sim.SUBMIT_SM, submit_body("8613900000001", "x", receipt=False))
    command_id, status, _, _ = await esme.read()
    assert (command_id, status) == (smsc_sim.SUBMIT_SM | RESP, smsc_sim.ESME_RINVBNDSTS)
    await esme.send(smsc_sim.UNBIND)
    assert (await esme.read())[0] == smsc_sim.UNBIND | RESP


def test_the_log_encodes_every_byte_as_urllib_quote_plus_does() -> None:
    """The simulator's own form-encoding (a table, for speed) gives urllib's text."""
    every_byte = bytes(range(256)) + "您好 复诊".encode("utf-16-be")
    assert smsc_sim.quote_plus(every_byte) == quote_plus(every_byte)
