"""A small SMPP v3.4 SMSC: the operator Kannel binds to when the stack runs with
DEVSTACK_SMSC=smpp (fakesmsc, the default operator, takes ~120 SMS/s; this one, bound
several times over, takes Kannel's 1,000 SMS/s and more).

    python -m devstack.smsc_sim --port 13017 --system-id hospital --password smpp-dev

It answers the PDUs Kannel's `smsc = smpp` uses: bind_transceiver/transmitter/receiver,
submit_sm, deliver_sm_resp, enquire_link, unbind (anything else: generic_nack). Every
submit_sm gets a submit_sm_resp with a new message id and, when it asks for one
(registered_delivery), a delivery receipt as a deliver_sm (esm_class 0x04) on a bind that
receives, in the standard text form "id:<id> sub:001 dlvrd:001 submit date:.. done date:..
stat:DELIVRD err:000 text:..": Kannel turns it into DLR 1 (delivered) for the message's
dlr-url. A number in `--undeliverable` (prefixes, comma-separated) gets stat:UNDELIV instead.

What it received is logged to stdout as fakesmsc logs it, `Got message <n>: <from to kind
text>` (kind `text`, `ucs-2`, or `udh <udh> data <bytes>` for a part of a concatenated
SMS, bytes form-encoded), so the tests' "what the patient received" and "none lost, none
twice" checks read either operator's log; and `counters: ...` lines (binds, submits,
receipts sent and acknowledged) once a second while they change and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import signal
import struct
import sys
import time
from dataclasses import dataclass, field

# command ids (SMPP v3.4, 5.1.2.1); a response is the request's id | RESP
BIND_RECEIVER, BIND_TRANSMITTER, SUBMIT_SM, DELIVER_SM = 0x01, 0x02, 0x04, 0x05
UNBIND, BIND_TRANSCEIVER, ENQUIRE_LINK = 0x06, 0x09, 0x15
GENERIC_NACK, RESP = 0x80000000, 0x80000000
BINDS = {
    BIND_RECEIVER: "receiver",
    BIND_TRANSMITTER: "transmitter",
    BIND_TRANSCEIVER: "transceiver",
}
# command_status values
ESME_ROK, ESME_RINVCMDID, ESME_RINVBNDSTS, ESME_RBINDFAIL = 0x00, 0x03, 0x04, 0x0D
ESME_RINVPASWD, ESME_RINVSYSID = 0x0E, 0x0F
HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
UDHI = 0x40  # esm_class: the short message starts with a user data header
RECEIPT = 0x04  # esm_class: this deliver_sm is a delivery receipt
UCS2 = 0x08  # data_coding


@dataclass
class Counters:
    binds: int = 0
    submits: int = 0
    receipts_sent: int = 0
    receipts_acked: int = 0

    def line(self) -> str:
        return (
            f"counters: binds={self.binds} submits={self.submits}"
            f" receipts_sent={self.receipts_sent} receipts_acked={self.receipts_acked}"
        )


@dataclass
class Submit:
    """The fields of a submit_sm this SMSC uses."""

    source: tuple[int, int, str]  # ton, npi, address
    destination: tuple[int, int, str]
    esm_class: int
    registered_delivery: int
    data_coding: int
    short_message: bytes


def cstring(body: bytes, at: int) -> tuple[str, int]:
    """A NUL-terminated octet string at `at`, and where the next field starts."""
    end = body.index(b"\x00", at)
    return body[at:end].decode("latin-1"), end + 1


def parse_submit(body: bytes) -> Submit:
    """submit_sm's mandatory fields (5.2 / 4.4.1); TLVs after them are not needed here."""
    _service_type, at = cstring(body, 0)
    src_ton, src_npi = body[at], body[at + 1]
    source, at = cstring(body, at + 2)
    dst_ton, dst_npi = body[at], body[at + 1]
    destination, at = cstring(body, at + 2)
    esm_class = body[at]
    _schedule, at = cstring(body, at + 3)  # after protocol_id and priority_flag
    _validity, at = cstring(body, at)
    registered_delivery, data_coding, sm_length = body[at], body[at + 2], body[at + 4]
    message = body[at + 5 : at + 5 + sm_length]
    return Submit(
        (src_ton, src_npi, source), (dst_ton, dst_npi, destination),
        esm_class, registered_delivery, data_coding, message,
    )  # fmt: skip


def pdu(command_id: int, sequence: int, body: bytes = b"", status: int = ESME_ROK) -> bytes:
    return HEADER.pack(HEADER.size + len(body), command_id, status, sequence) + body


def _addr(ton_npi_addr: tuple[int, int, str]) -> bytes:
    ton, npi, address = ton_npi_addr
    return bytes((ton, npi)) + address.encode("latin-1") + b"\x00"


def receipt_body(message_id: str, sm: Submit, stat: str, at: float) -> bytes:
    """deliver_sm carrying the receipt of `sm`: from its destination back to its sender."""
    stamp = time.strftime("%y%m%d%H%M", time.gmtime(at))
    err = "000" if stat == "DELIVRD" else "001"
    text = (
        f"id:{message_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'}"
        f" submit date:{stamp} done date:{stamp} stat:{stat} err:{err} text:"
    ).encode("ascii")
    return (
        b"\x00" + _addr(sm.destination) + _addr(sm.source)
        + bytes((RECEIPT, 0, 0)) + b"\x00\x00"  # esm_class, protocol_id, priority; no times
        + bytes((0, 0, 0, 0, len(text))) + text
    )  # fmt: skip


# quote_plus of each byte value: the log's text is form-encoded as fakesmsc's is; one table
# look-up a byte instead of urllib's per-byte quoter (a third of the simulator's time)
_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_QUOTED = [chr(b) if b in _SAFE else "+" if b == 0x20 else f"%{b:02X}" for b in range(256)]


def quote_plus(data: bytes) -> str:
    """What urllib.parse's quote_plus(data) gives, faster."""
    return "".join(map(_QUOTED.__getitem__, data))


def logged(n: int, sm: Submit) -> str:
    """The line fakesmsc would print for this message (see the module docstring)."""
    data = sm.short_message
    if sm.esm_class & UDHI and data:
        udh, data = data[: data[0] + 1], data[data[0] + 1 :]
        kind = f"udh {quote_plus(udh)} data"
    else:
        kind = "ucs-2" if sm.data_coding == UCS2 else "text"
    text = quote_plus(data)
    return f"Got message {n}: <{_number(sm.source)} {_number(sm.destination)} {kind} {text}>"


def _number(ton_npi_addr: tuple[int, int, str]) -> str:
    """An address as written: `+` and the digits for an international number (TON 1), as
    Kannel was given it (it sends "+8613900000001" as TON 1, "8613900000001")."""
    ton, _npi, address = ton_npi_addr
    return f"+{address}" if ton == 1 and not address.startswith("+") else address


@dataclass
class Smsc:
    """The SMSC's state: who may bind, the binds that take receipts, the counters."""

    system_id: str
    password: str
    undeliverable: tuple[str, ...] = ()
    counters: Counters = field(default_factory=Counters)
    receivers: list[Session] = field(default_factory=list)
    sessions: set[Session] = field(default_factory=set)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    lines: list[str] = field(default_factory=list)
    to_flush: list[Session] = field(default_factory=list)

    def log(self, line: str) -> None:
        self.lines.append(line + "\n")

    def flush(self) -> None:
        """The log lines, flushed, then the answers and receipts of every session."""
        if self.lines:
            sys.stdout.write("".join(self.lines))
            sys.stdout.flush()
            self.lines.clear()
        sessions, self.to_flush = self.to_flush, []
        for session in sessions:
            session.flush()

    def receiver(self, preferred: Session) -> Session | None:
        """Where a receipt goes: the bind it was submitted on when that one receives (a
        transceiver), else any receiver bind of the same account."""
        if preferred in self.receivers:
            return preferred
        return self.receivers[0] if self.receivers else None

    def stat_for(self, destination: str) -> str:
        undeliverable = any(destination.startswith(p) for p in self.undeliverable)
        return "UNDELIV" if undeliverable else "DELIVRD"


class Session(asyncio.Protocol):
    """One ESME connection: open until it binds, then bound as transmitter, receiver or
    transceiver, until unbind or the connection goes.

    Everything that one read brings (Kannel sends its window of submits back to back) is
    answered together: the "Got message" lines are written and flushed first (a test reads
    the log as soon as a receipt is back), then each connection's answers and receipts in
    one send, not one system call a PDU."""

    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc
        self.transport: asyncio.Transport | None = None
        self.bound: str | None = None
        self.sequence = itertools.count(1)
        self.buffer = bytearray()
        self.outbox: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=1 << 20)  # asyncio's 64 KiB stalls a window
        self.smsc.sessions.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.smsc.receivers:
            self.smsc.receivers.remove(self)
        self.smsc.sessions.discard(self)

    def pause_writing(self) -> None:  # a peer that stops reading slows this one down
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        ending = False
        while len(self.buffer) >= HEADER.size and not ending:
            length, command_id, _status, sequence = HEADER.unpack_from(self.buffer)
            if len(self.buffer) < length:
                break
            body = bytes(self.buffer[HEADER.size : length])
            del self.buffer[:length]
            ending = not self.on_pdu(command_id, sequence, body)
        self.smsc.flush()
        if ending and self.transport is not None:
            self.transport.close()

    def send(self, data: bytes) -> None:
        if not self.outbox:
            self.smsc.to_flush.append(self)
        self.outbox.append(data)

    def flush(self) -> None:
        if self.outbox and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.outbox))
        self.outbox.clear()

    def on_pdu(self, command_id: int, sequence: int, body: bytes) -> bool:
        """Answer one PDU; False when the session ends (unbind)."""
        if command_id in BINDS:
            self.on_bind(command_id, sequence, body)
        elif command_id == ENQUIRE_LINK:
            self.send(pdu(ENQUIRE_LINK | RESP, sequence))
        elif command_id == UNBIND:
            self.send(pdu(UNBIND | RESP, sequence))
            return False
        elif command_id == DELIVER_SM | RESP:
            self.smsc.counters.receipts_acked += 1
        elif command_id == ENQUIRE_LINK | RESP:
            pass
        elif command_id == SUBMIT_SM and self.bound in ("transmitter", "transceiver"):
            self.on_submit(sequence, body)
        elif command_id == SUBMIT_SM:
            self.send(pdu(SUBMIT_SM | RESP, sequence, status=ESME_RINVBNDSTS))
        else:
            self.send(pdu(GENERIC_NACK, sequence, status=ESME_RINVCMDID))
        return True

    def on_bind(self, command_id: int, sequence: int, body: bytes) -> None:
        system_id, at = cstring(body, 0)
        password, _ = cstring(body, at)
        status = ESME_ROK
        if self.bound is not None:
            status = ESME_RBINDFAIL
        elif system_id != self.smsc.system_id:
            status = ESME_RINVSYSID
        elif password != self.smsc.password:
            status = ESME_RINVPASWD
        resp_body = b"devstack-smsc\x00" if status == ESME_ROK else b""
        self.send(pdu(command_id | RESP, sequence, resp_body, status))
        if status != ESME_ROK:
            print(f"bind refused ({BINDS[command_id]}, status {status:#x})", flush=True)
            return
        self.bound = BINDS[command_id]
        self.smsc.counters.binds += 1
        if self.bound in ("receiver", "transceiver"):
            self.smsc.receivers.append(self)
        print(f"bound as {self.bound} ({self.smsc.counters.binds} binds so far)", flush=True)

    def on_submit(self, sequence: int, body: bytes) -> None:
        sm = parse_submit(body)
        message_id = str(next(self.smsc.ids))
        self.smsc.counters.submits += 1
        self.smsc.log(logged(self.smsc.counters.submits, sm))
        self.send(pdu(SUBMIT_SM | RESP, sequence, message_id.encode() + b"\x00"))
        if sm.registered_delivery & 0x03:  # a final receipt asked for
            to = self.smsc.receiver(self)
            if to is not None:
                stat = self.smsc.stat_for(sm.destination[2])
                body = receipt_body(message_id, sm, stat, time.time())
                to.send(pdu(DELIVER_SM, next(to.sequence), body))
                self.smsc.counters.receipts_sent += 1


async def start(smsc: Smsc, host: str, port: int) -> asyncio.Server:
    """The SMSC listening on host:port (0: any free port)."""
    return await asyncio.get_running_loop().create_server(lambda: Session(smsc), host, port)


async def report(smsc: Smsc, every_s: float = 1.0) -> None:
    """A counters line once a second while they change."""
    last = ""
    while True:
        await asyncio.sleep(every_s)
        line = smsc.counters.line()
        if line != last:
            print(line, flush=True)
            last = line


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--system-id", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--undeliverable", default="", help="number prefixes, comma-separated")
    args = parser.parse_args(argv)
    prefixes = tuple(p for p in args.undeliverable.split(",") if p)
    smsc = Smsc(args.system_id, args.password, prefixes)
    server = await start(smsc, args.host, args.port)
    print(f"SMPP SMSC listening on {args.host}:{args.port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    reporter = asyncio.create_task(report(smsc))
    async with server:
        await stop.wait()
        # the connections end as if the peer had gone (each session's read sees EOF), rather
        # than being cancelled when the loop closes, which asyncio reports as an error
        for session in list(smsc.sessions):
            if session.transport is not None:
                session.transport.close()
        await asyncio.sleep(0.1)
    reporter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reporter
    print(smsc.counters.line(), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
