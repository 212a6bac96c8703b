"""`python -m bench.smsc`: how many SMS a second the operator path takes, sustained: sendsms
into Kannel's smsbox, bearerbox to the operator, the operator's delivery receipt back through
Kannel to a dlr-url, for the SMPP simulator (DEVSTACK_SMSC=smpp: smsc_sim.py, several binds)
and fakesmsc (the default operator), with the CPU each process used.

Only Kannel and the operator run (on the bench stack's ports, `.stack-bench`); the bench
itself plays the notifications service: BENCH_SMSC_N messages (default 20,000) over
BENCH_SMSC_CONCURRENCY keep-alive connections (default 50), with the Chinese one-part text
and the sendsms parameters the service uses (UCS-2, its dlr-mask: 19, outcomes only), and
an HTTP sink for the receipts (1 = delivered; 8 = SMSC ack with `smpp[dlr_mask=31]`, the
service's mask before session 14). It checks that the operator got each message once
and that each came back delivered once. BENCH_SMSC_MODES (default `direct,smpp,fakesmsc`):
`direct` is the simulator alone, bound by the bench as Kannel binds (bench/smpp_direct.py);
`smpp[binds=8/http_requests=512]` is the SMPP operator with Kannel tuned otherwise than
devstack's defaults (config.SmppTuning's fields), so a change and what it replaces are
measured in one run; BENCH_SMSC_ROUNDS (default 1) repeats the list, interleaved, as the
machine's load drifts. Each run states the CPU ms per SMS of every process and the load.
Figures to bench/smsc_results.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import time
import urllib.parse
from pathlib import Path
from typing import Any

import psutil

from bench import smpp_direct
from bench.stack import bench_config
from devstack import StackConfig, kannel, procs
from devstack.config import KANNEL_PASSWORD, KANNEL_USERNAME, SmppTuning
from notifications.providers.kannel import DLR_MASK  # the receipts the service asks for

RESULTS = Path(__file__).resolve().parent / "smsc_results.json"
TEXT = "【市第一医院】您好,您的复诊时间为12月08日 09:30,心内科门诊三楼。退订回T"
OPERATOR_PROCESS = {"smpp": "smsc-sim", "fakesmsc": "fakesmsc"}
BENCH_PROCESS = "bench (sender and receipt sink)"


class DlrSink:
    """An HTTP/1.1 server (keep-alive) that answers 200 and notes when each receipt came."""

    def __init__(self) -> None:
        self.acked: dict[str, float] = {}  # message -> DLR 8 (the operator took it)
        self.delivered: dict[str, float] = {}  # message -> DLR 1
        self.doubles = 0
        self.other: dict[str, int] = {}
        self.server: asyncio.Server | None = None
        self.expected = 0
        self.all_delivered = asyncio.Event()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def note(self, target: str) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
        message, status = query["id"][0], query["status"][0]
        seen = {"8": self.acked, "1": self.delivered}.get(status)
        if seen is None:
            self.other[status] = self.other.get(status, 0) + 1
        elif message in seen:
            self.doubles += 1
        else:
            seen[message] = time.monotonic()
            if self.expected and len(self.delivered) >= self.expected:
                self.all_delivered.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                close = False
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    close |= header.lower().startswith(b"connection: close")
                self.note(line.decode("latin-1").split(" ")[1])
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                if close:
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()


async def _answer(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    """One HTTP response: (body, whether the server keeps the connection)."""
    status = await reader.readline()
    length, keep = 0, status.startswith(b"HTTP/1.1")
    while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection":
            keep = value.strip().lower() == "keep-alive"
    return await reader.readexactly(length), keep


async def send_all(
    cfg: StackConfig, ids: list[str], sink_port: int, conns: int, dlr_mask: int = DLR_MASK
) -> dict[str, float]:
    """sendsms for every id over `conns` connections; the time each was accepted."""
    accepted: dict[str, float] = {}
    queue = iter(ids)
    base = {
        "username": KANNEL_USERNAME, "password": KANNEL_PASSWORD, "from": "95000",
        "charset": "UTF-8", "coding": "2", "dlr-mask": str(dlr_mask), "text": TEXT,
    }  # fmt: skip

    async def worker() -> None:
        reader = writer = None
        for message in queue:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", cfg.kannel_sendsms_port)
            assert reader is not None
            dlr_url = f"http://127.0.0.1:{sink_port}/dlr?id={message}&status=%d"
            query = urllib.parse.urlencode(
                {**base, "to": f"+86139{int(message):08d}", "dlr-url": dlr_url}
            )
            writer.write(f"GET /cgi-bin/sendsms?{query} HTTP/1.1\r\nHost: smsbox\r\n\r\n".encode())
            body, keep = await _answer(reader)
            if b"Accepted" in body:
                accepted[message] = time.monotonic()
            if not keep:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(conns)))
    return accepted


def _cpu_seconds(pids: dict[str, int | None]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        try:
            times = psutil.Process(pid).cpu_times() if pid else None
        except psutil.Error:
            times = None
        out[name] = (times.user + times.system) if times else 0.0
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return (
        round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)
        if ordered
        else float("nan")
    )


def operator_counts(cfg: StackConfig, offset: int) -> dict[str, int]:
    """How often the operator got each number after byte `offset` of its log."""
    counts: dict[str, int] = {}
    with cfg.operator_log.open("rb") as fh:
        fh.seek(offset)
        for line in fh.read().decode(errors="replace").splitlines():
            if "Got message" in line:
                to = line.split("<", 1)[1].split(" ")[1]
                counts[to] = counts.get(to, 0) + 1
    return counts


async def wait_for_receipts(sink: DlrSink, n: int, timeout: float) -> None:
    sink.expected = n
    if len(sink.delivered) < n:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sink.all_delivered.wait(), timeout)


def parse_mode(token: str) -> tuple[str, SmppTuning, int]:
    """`smpp[binds=8/http_requests=64/dlr_mask=19]` -> ("smpp", SmppTuning(binds=8,
    http_requests=64), 19): Kannel's tuning, and the dlr-mask the sender asks for."""
    found = re.fullmatch(r"(\w+)(?:\[(.*)\])?", token.strip())
    if found is None:
        raise ValueError(f"BENCH_SMSC_MODES: {token!r} is not mode or mode[key=value/...]")
    pairs = dict(p.split("=", 1) for p in (found.group(2) or "").split("/") if p)
    mask = int(pairs.pop("dlr_mask", DLR_MASK))
    return found.group(1), SmppTuning(**{k: int(v) for k, v in pairs.items()}), mask


async def run_mode(
    mode: str, n: int, conns: int, tuning: SmppTuning | None = None, dlr_mask: int = DLR_MASK
) -> dict[str, Any]:
    """Kannel with `mode` as its operator, n SMS through it; the figures of the run."""
    cfg = dataclasses.replace(bench_config(), smsc=mode, smpp=tuning or SmppTuning())
    await asyncio.to_thread(kannel.stop, cfg)
    await asyncio.to_thread(kannel.up, cfg)
    sink = DlrSink()
    sink_port = await sink.start()
    offset = cfg.operator_log.stat().st_size
    names = ("bearerbox", "smsbox", OPERATOR_PROCESS[mode])
    pids: dict[str, int | None] = {name: procs.running(cfg, name) for name in names}
    pids[BENCH_PROCESS] = os.getpid()
    cpu_before, machine_before = _cpu_seconds(pids), psutil.cpu_times()
    started = time.monotonic()
    accepted = await send_all(cfg, [str(i) for i in range(n)], sink_port, conns, dlr_mask)
    sent_s = time.monotonic() - started
    await wait_for_receipts(sink, len(accepted), timeout=max(60.0, n / 50))
    wall = max(sink.delivered.values(), default=time.monotonic()) - started
    cpu_after, machine_after = _cpu_seconds(pids), psutil.cpu_times()
    cpu = {k: cpu_after[k] - cpu_before[k] for k in pids}
    busy = _busy(machine_after) - _busy(machine_before)
    total = sum(machine_after) - sum(machine_before)
    got = operator_counts(cfg, offset)
    latency = [sink.delivered[m] - accepted[m] for m in sink.delivered if m in accepted]
    return {
        "operator": mode,
        "smpp_tuning": dataclasses.asdict(cfg.smpp) if mode == "smpp" else None,
        "dlr_mask": dlr_mask,
        "messages": n,
        "sendsms_connections": conns,
        "accepted": len(accepted),
        "accepted_per_s": round(len(accepted) / sent_s),
        "at_operator": sum(got.values()),
        "at_operator_twice": sum(1 for c in got.values() if c > 1),
        "acked_dlr8": len(sink.acked),
        "delivered_dlr1": len(sink.delivered),
        "receipts_twice": sink.doubles,
        "other_receipts": sink.other,
        "sustained_delivered_per_s": round(len(sink.delivered) / wall) if wall > 0 else 0,
        "receipts_per_s": round((len(sink.acked) + len(sink.delivered)) / wall) if wall else 0,
        "seconds_to_last_receipt": round(wall, 2),
        "accepted_to_delivered_ms": {"p50": _pct(latency, 0.5), "p99": _pct(latency, 0.99)},
        "cpu_cores": {k: round(v / wall, 2) for k, v in cpu.items()},
        "cpu_ms_per_sms": {k: round(v / max(1, n) * 1000, 3) for k, v in cpu.items()},
        # CPU per SMS, sender and receipt sink aside: what 1,000 SMS/s costs on a free core
        "gateway_cpu_ms_per_sms": round(
            sum(v for k, v in cpu.items() if k != BENCH_PROCESS) / max(1, n) * 1000, 3
        ),
        "machine_cpu_busy": round(busy / total, 2) if total else None,
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


async def run_direct(n: int) -> dict[str, Any]:
    """The simulator alone, bound by the bench as Kannel binds (bench/smpp_direct.py)."""
    cfg = dataclasses.replace(bench_config(), smsc="smpp")
    await asyncio.to_thread(kannel.stop, cfg)  # Kannel's binds would take the receipts
    await asyncio.to_thread(kannel.start_smsc_sim, cfg)
    pids: dict[str, int | None] = {"smsc-sim": procs.running(cfg, "smsc-sim")}
    pids[BENCH_PROCESS] = os.getpid()
    before = _cpu_seconds(pids)
    seconds, receipts = await smpp_direct.run(cfg.kannel_smpp_port, n)
    cpu = {k: v - before[k] for k, v in _cpu_seconds(pids).items()}
    return {
        "operator": "direct",
        "messages": n,
        "binds": smpp_direct.BINDS,
        "window": smpp_direct.WINDOW,
        "receipts": receipts,
        "sustained_receipts_per_s": round(receipts / seconds),
        "cpu_cores": {k: round(v / seconds, 2) for k, v in cpu.items()},
        "simulator_cpu_ms_per_sms": round(cpu["smsc-sim"] / max(1, n) * 1000, 3),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


def _busy(t: Any) -> float:
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


async def bench(modes: list[str], n: int, conns: int, rounds: int = 1) -> dict[str, Any]:
    results: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "cpus": os.cpu_count(), "runs": []}  # fmt: skip
    try:
        for token in modes * rounds:
            mode, tuning, dlr_mask = parse_mode(token)
            print(f"{token}: {n} SMS through Kannel ...", flush=True)
            if mode == "direct":
                run = await run_direct(n)
            else:
                run = await run_mode(mode, n, conns, tuning, dlr_mask)
            results["runs"].append(run)
            print(json.dumps(run, ensure_ascii=False), flush=True)
    finally:
        await asyncio.to_thread(kannel.stop, bench_config())
    return results


def summary(run: dict[str, Any]) -> str:
    if run["operator"] == "direct":
        return (
            f"SMPP simulator alone ({run['binds']} binds, window {run['window']}):"
            f" {run['receipts']}/{run['messages']} receipts, sustained"
            f" {run['sustained_receipts_per_s']} SMS/s; CPU cores {run['cpu_cores']};"
            f" simulator {run['simulator_cpu_ms_per_sms']} ms CPU per SMS;"
            f" load {run['load_average_1m']}"
        )
    cores = ", ".join(f"{k} {v}" for k, v in run["cpu_ms_per_sms"].items())
    ms = run["accepted_to_delivered_ms"]
    tuning = run.get("smpp_tuning")
    name = run["operator"] + (f" {tuning}" if tuning else "") + f" dlr-mask {run['dlr_mask']}"
    return (
        f"{name}: {run['delivered_dlr1']}/{run['messages']} delivered back, sustained"
        f" {run['sustained_delivered_per_s']} SMS/s (sendsms accepted {run['accepted_per_s']}/s),"
        f" accepted->delivered p50 {ms['p50']} ms p99 {ms['p99']} ms; CPU ms per SMS: {cores};"
        f" Kannel and operator {run['gateway_cpu_ms_per_sms']} ms CPU per SMS;"
        f" machine busy {run['machine_cpu_busy']:.0%}, load {run['load_average_1m']}"
    )


def main() -> None:
    modes = os.environ.get("BENCH_SMSC_MODES", "direct,smpp,fakesmsc").split(",")
    n = int(os.environ.get("BENCH_SMSC_N", "20000"))
    conns = int(os.environ.get("BENCH_SMSC_CONCURRENCY", "50"))
    rounds = int(os.environ.get("BENCH_SMSC_ROUNDS", "1"))
    results = asyncio.run(bench(modes, n, conns, rounds))
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    for run in results["runs"]:
        print(summary(run))
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
