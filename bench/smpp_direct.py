"""The SMPP simulator alone, without Kannel: what it takes when nothing else is in the way.

Binds BINDS transceivers as Kannel does, pumps submit_sm on each with up to WINDOW awaiting
their answer, and answers every receipt (deliver_sm) with deliver_sm_resp, until each of the n
messages has its receipt. The simulator runs as the stack runs it (`smsc-sim`, its own
process), so its CPU is its own; the client's is the bench's.
"""

from __future__ import annotations

import asyncio
import time

from devstack import smsc_sim
from devstack.kannel import SMPP_PASSWORD, SMPP_SYSTEM_ID

BINDS, WINDOW = 4, 50
_BIND = f"{SMPP_SYSTEM_ID}\0{SMPP_PASSWORD}\0VMA\0".encode() + bytes((0x34, 0, 0)) + b"\0"
TEXT = "【市第一医院】您好,您的复诊时间为12月08日 09:30,心内科门诊三楼。退订回T".encode("utf-16-be")


def submit_body(n: int) -> bytes:
    to = f"86139{n:08d}".encode()
    return (
        b"\0" + bytes((5, 0)) + b"95000\0" + bytes((1, 1)) + to + b"\0"
        + bytes((0, 0, 0)) + b"\0\0" + bytes((1, 0, smsc_sim.UCS2, 0, len(TEXT))) + TEXT
    )  # fmt: skip


async def _read(reader: asyncio.StreamReader) -> tuple[int, int, int]:
    header = await reader.readexactly(smsc_sim.HEADER.size)
    length, command_id, status, sequence = smsc_sim.HEADER.unpack(header)
    await reader.readexactly(length - smsc_sim.HEADER.size)
    return command_id, status, sequence


async def one_bind(port: int, numbers: list[int], receipts: list[float]) -> None:
    """Submit `numbers` on one transceiver bind; note the time of each receipt."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(smsc_sim.pdu(smsc_sim.BIND_TRANSCEIVER, 1, _BIND))
    assert (await _read(reader))[1] == smsc_sim.ESME_ROK, "bind refused"
    window = asyncio.Semaphore(WINDOW)
    got = 0

    async def pump() -> None:
        for seq, number in enumerate(numbers, start=2):
            await window.acquire()
            writer.write(smsc_sim.pdu(smsc_sim.SUBMIT_SM, seq, submit_body(number)))
            await writer.drain()

    sender = asyncio.create_task(pump())
    while got < len(numbers):
        command_id, _, sequence = await _read(reader)
        if command_id == smsc_sim.SUBMIT_SM | smsc_sim.RESP:
            window.release()
        elif command_id == smsc_sim.DELIVER_SM:
            writer.write(smsc_sim.pdu(smsc_sim.DELIVER_SM | smsc_sim.RESP, sequence, b"\0"))
            receipts.append(time.monotonic())
            got += 1
    await sender
    writer.write(smsc_sim.pdu(smsc_sim.UNBIND, 1))
    writer.close()


async def run(port: int, n: int) -> tuple[float, int]:
    """(seconds until the last receipt, receipts) for n messages over BINDS binds."""
    receipts: list[float] = []
    started = time.monotonic()
    await asyncio.gather(
        *(one_bind(port, list(range(b, n, BINDS)), receipts) for b in range(BINDS))
    )
    return max(receipts) - started, len(receipts)
