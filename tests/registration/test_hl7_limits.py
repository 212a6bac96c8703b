"""What a message may cost: structure limits answered AR before parsing, the AR for a frame cut
off at the size limit, the ACK's time with its offset, and the parse pool reading messages in
worker processes with the same answers as on the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal

import hl7
import pytest

from registration.handlers import Hl7Handler, rules_from
from registration.hl7_prepare import Prepared, Rejected, prepare
from registration.parse_pool import ParsePool
from registration.settings import Settings
from tests.registration.messages import adt
from tests.registration.test_hl7 import FakeStore

PHONE = b"13800138000^PRN^CP"


def handler(store: FakeStore, **settings: int) -> Hl7Handler:
    return Hl7Handler(store, rules=rules_from(Settings(**settings)), us=("OPS", "REG"))


def message(control_id: str) -> bytes:
    return adt("A04", control_id, patient_id="P1", visit_id="V1")


async def ack_of(raw: bytes, **settings: int) -> hl7.Message:
    store = FakeStore()
    reply = await handler(store, **settings)(raw)
    if b"MSA|AA" not in reply:
        assert store.taken == []
    return hl7.parse(reply.decode())


async def test_a_field_repeated_past_the_limit_is_ar_naming_the_field() -> None:
    raw = message("REP-1").replace(PHONE, b"~".join([b"13800138000"] * 101))
    ack = await ack_of(raw, hl7_max_repetitions=100)
    assert str(ack["MSA.F1"]) == "AR"
    assert str(ack["MSA.F2"]) == "REP-1"
    assert str(ack.segment("ERR")(2)) == "PID^1^13"
    assert "PID-13 repeats 101 times; at most 100" in str(ack.segment("ERR")(8))
    at_limit = message("REP-2").replace(PHONE, b"~".join([b"13800138000"] * 100))
    assert str((await ack_of(at_limit, hl7_max_repetitions=100))["MSA.F1"]) == "AA"


async def test_too_many_segments_or_fields_are_ar() -> None:
    segments = message("SEG-1") + b"NTE|1|x\r" * 20
    ack = await ack_of(segments, hl7_max_segments=10)
    assert (str(ack["MSA.F1"]), str(ack["MSA.F2"])) == ("AR", "SEG-1")
    assert "24 segments; at most 10" in str(ack.segment("ERR")(8))
    fields = message("FLD-1") + b"ZXT" + b"|x" * 300 + b"\r"
    ack = await ack_of(fields, hl7_max_fields=256)
    assert str(ack["MSA.F1"]) == "AR"
    assert str(ack.segment("ERR")(2)) == "ZXT^1"
    assert "300 fields in one segment" in str(ack.segment("ERR")(8))


async def test_msh2_holding_the_repetition_separator_is_not_counted() -> None:
    raw = message("MSH-2").replace(PHONE, b"~".join([b"13800138000"] * 3))
    assert str((await ack_of(raw, hl7_max_repetitions=3))["MSA.F1"]) == "AA"


def test_a_frame_cut_off_at_the_size_limit_gets_an_ar_naming_the_message() -> None:
    head = message("BIG-1")[:200]  # the start of what was read
    reply = hl7.parse(handler(FakeStore()).too_large(head, 262_144).decode())
    assert (str(reply["MSA.F1"]), str(reply["MSA.F2"])) == ("AR", "BIG-1")
    assert "larger than 262144 bytes" in str(reply.segment("ERR")(8))
    assert str(reply["MSH.F5"]) == "HIS"  # addressed to the sender


def test_a_frame_without_msh_still_gets_an_ar() -> None:
    reply = hl7.parse(handler(FakeStore()).too_large(b"x" * 100, 1000).decode())
    assert str(reply["MSA.F1"]) == "AR"


async def test_the_ack_time_carries_the_hospital_offset() -> None:
    ack = await ack_of(message("TZ-1"))
    assert str(ack["MSH.F7"]).endswith("+0800")  # Asia/Shanghai, the default


@pytest.mark.parametrize("kind", ["process", "thread"])
async def test_the_parse_pool_reads_like_the_loop_in_order(kind: str) -> None:
    rules = rules_from(Settings())
    big = message("POOL-BIG").replace(PHONE, b"~".join([b"13800138000"] * 99) + b"x" * 5000)
    payloads = [message("POOL-1"), big, message("POOL-2"), b"not hl7", big, message("POOL-3")]
    pool = ParsePool(rules, workers=2, kind=kind, inline_bytes=1000)  # type: ignore[arg-type]
    await pool.start()
    try:
        read = await pool(payloads)
    finally:
        await pool.stop()
    expected = [prepare(p, rules) for p in payloads]
    assert [type(r) for r in read] == [Prepared, Prepared, Prepared, Rejected, Prepared, Prepared]
    assert [r.header.control_id for r in read] == [e.header.control_id for e in expected]
    pooled = read[1]
    assert isinstance(pooled, Prepared)
    assert pooled.intakes[0].data == expected[1].intakes[0].data  # type: ignore[union-attr]


async def test_a_worker_that_dies_fails_only_its_messages_and_the_pool_goes_on() -> None:
    rules = rules_from(Settings(hl7_max_repetitions=1_000_000))  # a read of ~2 s
    pool = ParsePool(rules, workers=1, inline_bytes=0)  # everything in the pool
    await pool.start()
    try:
        huge = message("DIES").replace(PHONE, b"~".join([b"138001"] * 100_000))
        reading = asyncio.create_task(pool([huge]))
        await asyncio.sleep(0)  # handed over
        executor = pool._executor
        assert isinstance(executor, concurrent.futures.ProcessPoolExecutor)
        for pid in list(executor._processes):  # as the kernel's OOM killer would
            os.kill(pid, signal.SIGKILL)
        [lost] = await reading
        assert isinstance(lost, Rejected)
        assert (lost.error.ack, lost.header.control_id) == ("AR", "DIES")
        assert "resend" in lost.error.text
        [after] = await pool([message("AFTER")])
        assert isinstance(after, Prepared)
    finally:
        await pool.stop()


async def test_a_name_with_an_unreadable_escape_is_not_written_to_the_logs_by_a_worker(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # The hl7 library logged the whole field when it could not unescape it; in a worker
    # (no log configuration) that went to stderr as it was.
    big = adt("A04", "POOL-NAME", patient_id="P1", visit_id="V1", family="王\\Zxy\\",
              segments=tuple(f"NTE|{n}||{'x' * 100}" for n in range(60)))  # fmt: skip
    pool = ParsePool(rules_from(Settings()), workers=1, kind="process", inline_bytes=4096)
    await pool.start()
    try:
        [read] = await pool([big])
    finally:
        await pool.stop()
    assert isinstance(read, Rejected) and read.error.location == "PID^1^5"
    reply = await handler(FakeStore())(big.replace(b"POOL-NAME", b"LOOP-NAME"))  # on the loop
    assert b"|AE|" in reply
    captured = capfd.readouterr()
    assert "王" not in captured.err and "王" not in captured.out
