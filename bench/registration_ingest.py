"""Throughput of the registration service's doors (issue 3), for `make bench`.

    uv run python bench/registration_ingest.py            # own stack, 3 rounds
    uv run python bench/registration_ingest.py --url http://127.0.0.1:8001 --mllp-port 2575

Without `--url` it brings up its own Kafka and PostgreSQL in `<repo>/.stack-bench-reg` on
the usual ports + 24000 (never the test or dev stack's), starts one registration process with
its default settings, measures, and stops all it started. Each round measures:

- events/s accepted (202, committed) through POST /v1/events in batches of 500, and the same
  until the outbox has published all of them to Kafka ("drained"; own stack only);
- single-event POST /v1/registrations per second;
- HL7 ADT^A04 messages per second on one MLLP connection, one at a time (AA before the next),
  and pipelined (the sender writes a window of messages before reading their ACKs).

The machine is shared: the 1-minute load average is recorded with every round. Figures are
printed as a table and merged into `bench/results.json` under "registration".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results.json"
PORT_SHIFT = int(os.environ.get("BENCH_PORT_SHIFT", "24000"))
NOW = "2026-11-23T09:30:00+08:00"
END = b"\x1c\x0d"


# --- payloads ---------------------------------------------------------------------------


def registration(n: int, tag: str) -> dict[str, Any]:
    return {
        "registration_id": f"B{tag}-{n}",
        "patient": {
            "patient_id": f"BP{tag}-{n % 5000}",
            "name": "张三",
            "phone": f"138{n % 10**8:08d}",  # all different: no cache helps
        },
        "department": {"code": "CARD", "name": "心内科"},
        "visit_type": "first",
        "channel": "online",
        "registered_at": NOW,
    }


def event(n: int, tag: str) -> dict[str, Any]:
    data = registration(n, tag)
    return {
        "specversion": "1.0", "id": f"{tag}-{n}", "source": "urn:bench", "time": NOW,
        "type": "registration.created", "subject": data["patient"]["patient_id"], "data": data,
    }  # fmt: skip


def hl7_a04(n: int, tag: str) -> bytes:
    msg = (
        f"MSH|^~\\&|BENCH|H|OPS|REG|20261123093000||ADT^A04^ADT_A01|{tag}-{n}|P|2.5||||||UNICODE UTF-8\r"
        f"EVN|A04|20261123093000\r"
        f"PID|1||BP{tag}-{n % 5000}^^^H^MR||张^三||||||||13800138000\r"
        f"PV1|1|O|CARD^^^^^^^^心内科|F|||||||||||||||H{tag}-{n}\r"
    )
    return b"\x0b" + msg.encode() + END


# --- measurements -----------------------------------------------------------------------


# Polled every 50 ms until the relay is done: EXISTS stops at the first unpublished row, where
# count(*) read every one of up to 100,000 (15 ms each time, a fifth of PostgreSQL's CPU).
ANY_UNPUBLISHED = "SELECT EXISTS (SELECT 1 FROM {schema}.outbox WHERE published_at IS NULL)"


async def unpublished(database_url: str) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        left: bool = await conn.fetchval(ANY_UNPUBLISHED.format(schema="registration"))
    finally:
        await conn.close()
    return left


def cpu_of(pids: list[int] | None) -> float | None:
    """CPU seconds so far of all of `pids` together; None where /proc cannot tell."""
    seconds = [cpu_seconds(pid) for pid in pids or []]
    if not seconds or None in seconds:
        return None
    return sum(s for s in seconds if s is not None)


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system) the process has used so far; None where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench_batches(
    clients: list[httpx.AsyncClient],
    *,
    batches: int,
    size: int,
    concurrency: int,
    database_url: str | None,
    pids: list[int] | None = None,
) -> tuple[float, float | None, float | None]:
    """(events/s accepted, events/s until the outbox was drained to Kafka, service CPU
    microseconds per event over both, all instances together). CPU per event hardly depends
    on what else the machine runs, so it compares code better than events/s on a busy
    machine. Batches go to the instances (`clients`) in turn, `concurrency` in flight."""
    tag = uuid.uuid4().hex[:8]
    bodies = [
        json.dumps([event(b * size + i, tag) for i in range(size)], ensure_ascii=False).encode()
        for b in range(batches)
    ]
    queue = list(bodies)

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            body = queue.pop()
            resp = await client.post(
                "/v1/events", content=body, headers={"Content-Type": "application/json"}
            )
            assert resp.status_code == 202, resp.text[:300]

    cpu_before = cpu_of(pids)
    start = time.perf_counter()
    await asyncio.gather(*(worker(clients[n % len(clients)]) for n in range(concurrency)))
    accepted = batches * size / (time.perf_counter() - start)
    if database_url is None:
        return accepted, None, None
    deadline = time.monotonic() + 300
    while await unpublished(database_url) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    drained = batches * size / (time.perf_counter() - start)
    cpu_after = cpu_of(pids)
    if cpu_before is None or cpu_after is None:
        return accepted, drained, None
    return accepted, drained, (cpu_after - cpu_before) * 1e6 / (batches * size)


async def bench_single(client: httpx.AsyncClient, *, count: int, concurrency: int) -> float:
    tag = uuid.uuid4().hex[:8]
    remaining = list(range(count))

    async def worker() -> None:
        while remaining:
            n = remaining.pop()
            resp = await client.post("/v1/registrations", json=registration(n, tag))
            assert resp.status_code == 202, resp.text[:300]

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - start)


async def bench_mllp(port: int, *, count: int, window: int) -> float:
    """Messages/s on one connection, `window` messages written before their ACKs are read
    (1: original mode, each AA awaited before the next message)."""
    tag = uuid.uuid4().hex[:8]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.perf_counter()
    sent = acked = 0
    try:
        while acked < count:
            while sent < count and sent - acked < window:
                writer.write(hl7_a04(sent, tag))
                sent += 1
            await writer.drain()
            ack = await reader.readuntil(END)
            assert b"MSA|AA" in ack, ack
            acked += 1
    finally:
        writer.close()
    return count / (time.perf_counter() - start)


# --- the stack ----------------------------------------------------------------------------


def bench_config() -> Any:
    from devstack import StackConfig

    base = StackConfig.default(REPO)
    shifted = {
        f.name: getattr(base, f.name) + PORT_SHIFT
        for f in dataclasses.fields(base)
        if f.name.endswith("_port")
    }
    return dataclasses.replace(base, state_dir=REPO / ".stack-bench-reg", **shifted)


@contextlib.contextmanager
def own_stack(
    keep: bool, *, with_service: bool = True, instances: int = 1
) -> Iterator[dict[str, Any]]:
    """Kafka and PostgreSQL of our own, and `instances` registration processes (the second
    and later on their own HTTP and MLLP ports, +1, +2, ...); "urls" and "pids" list them."""
    import devstack

    cfg = bench_config()
    devstack.down(cfg)
    devstack.wipe(cfg)  # PostgreSQL's data too when it lives outside the state folder
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    (cfg.state_dir / ".gitignore").write_text("*\n")  # data and logs, never committed
    env = devstack.up(cfg, with_services=False)
    stack = {
        "url": cfg.service_url("registration"),
        "mllp_port": cfg.mllp_port,
        "token": env["TOKEN_INTEGRATION"],
        "database_url": cfg.database_url,
        "bootstrap": cfg.kafka_bootstrap,
    }
    procs, urls = [], []
    try:
        for n in range(instances if with_service else 0):
            url = f"http://127.0.0.1:{cfg.service_port('registration') + n}"
            shifted = {
                "REGISTRATION_HTTP_PORT": str(cfg.service_port("registration") + n),
                "REGISTRATION_MLLP_PORT": str(cfg.mllp_port + n),
            }
            log_name = "registration-bench" + (f"-{n + 1}" if n else "")
            proc = devstack.start_service(cfg, "registration", shifted, log_name=log_name)
            procs.append(proc)
            devstack.wait_ready(url, 90, proc=proc, log=cfg.log_file(log_name))
            urls.append(url)
        yield {
            **stack,
            "config": cfg,
            "pid": procs[0].pid if procs else None,
            "pids": [p.pid for p in procs],
            "urls": urls,
        }
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.wait(20)
        if not keep:
            devstack.down(cfg)


# --- report ------------------------------------------------------------------------------

METRICS = [
    ("events_per_s", "POST /v1/events, batches of 500 (202)", "events/s"),
    ("events_drained_per_s", "  ... until published to Kafka", "events/s"),
    ("cpu_us_per_event", "  service CPU per event (ingest + publish)", "us"),
    ("single_posts_per_s", "POST /v1/registrations, one event each", "requests/s"),
    ("hl7_per_s", "HL7 ADT^A04, one MLLP connection, AA awaited", "messages/s"),
    ("hl7_pipelined_per_s", "HL7 ADT^A04, one connection, window of 50", "messages/s"),
]


def summarise(rounds: list[dict[str, float | None]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for key, _, _ in METRICS:
        values = [v for r in rounds if (v := r.get(key)) is not None]
        summary[key] = round(statistics.median(values)) if values else None
    return summary


def print_table(rounds: list[dict[str, float | None]], summary: dict[str, Any]) -> None:
    head = f"{'registration':<46} {'median':>9} " + " ".join(
        f"{'run ' + str(i + 1):>9}" for i in range(len(rounds))
    )
    print(head)
    print("-" * len(head))
    for key, label, unit in METRICS:
        cells = " ".join(
            f"{r[key]:>9,.0f}" if r.get(key) is not None else f"{'-':>9}" for r in rounds
        )
        median = summary[key]
        print(f"{label:<46} {median if median is not None else '-':>9,} {cells}  {unit}")
    loads = " ".join(f"{r['load_1m']:>9.2f}" for r in rounds)
    print(f"{'load average (1 min), at round start':<46} {'':>9} {loads}")
    print(f"target: >= 20,000 events/s through POST /v1/events on {os.cpu_count()} cores")


def merge_results(
    figures: dict[str, Any], path: Path = RESULTS, *, key: str = "registration"
) -> None:
    """Write `figures` under `key`, keeping every other key of the file."""
    try:
        results = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        results = {}
    results[key] = figures
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)


async def measure(target: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {target['token']}"}
    rounds = []
    urls = target.get("urls") or [target["url"]]
    async with contextlib.AsyncExitStack() as exits:
        clients = [
            await exits.enter_async_context(
                httpx.AsyncClient(base_url=url, headers=headers, timeout=120)
            )
            for url in urls
        ]
        client = clients[0]
        # Warm-up: first requests pay for imports, pool connections and JIT-less caches.
        await bench_batches(
            clients, batches=4 * len(clients), size=500, concurrency=2 * len(clients),
            database_url=None,
        )  # fmt: skip
        for _ in range(args.rounds):
            load_1m = os.getloadavg()[0]
            accepted, drained, cpu = await bench_batches(
                clients,
                batches=args.batches,
                size=500,
                concurrency=args.concurrency * len(clients),
                database_url=target.get("database_url"),
                pids=target.get("pids") or ([target["pid"]] if target.get("pid") else None),
            )
            single = await bench_single(client, count=args.single, concurrency=16)
            hl7 = await bench_mllp(target["mllp_port"], count=args.hl7, window=1)
            piped = await bench_mllp(target["mllp_port"], count=args.hl7, window=50)
            rounds.append(
                {
                    "events_per_s": accepted,
                    "events_drained_per_s": drained,
                    "cpu_us_per_event": cpu,
                    "single_posts_per_s": single,
                    "hl7_per_s": hl7,
                    "hl7_pipelined_per_s": piped,
                    "load_1m": load_1m,
                }
            )
    return rounds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", help="a running registration service (default: start our own)")
    p.add_argument("--mllp-port", type=int, default=2575)
    p.add_argument("--token", default="dev-integration-token")
    p.add_argument("--database-url", help="with --url: to measure the outbox drain too")
    p.add_argument("--pid", type=int, help="with --url: the service's pid, to measure its CPU")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batches", type=int, default=40, help="batches of 500 per round")
    p.add_argument("--concurrency", type=int, default=4, help="batches in flight, per instance")
    p.add_argument(
        "--instances", type=int, default=1, help="registration processes (own stack only)"
    )
    p.add_argument("--single", type=int, default=2000, help="single POSTs per round")
    p.add_argument("--hl7", type=int, default=2000, help="HL7 messages per round and mode")
    p.add_argument("--keep-stack", action="store_true", help="leave our own stack up")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results.json")
    args = p.parse_args(argv)

    if args.url:
        target = {
            "url": args.url,
            "mllp_port": args.mllp_port,
            "token": args.token,
            "database_url": args.database_url,
            "pid": args.pid,
        }
        rounds = asyncio.run(measure(target, args))
    else:
        with own_stack(args.keep_stack, instances=args.instances) as target:
            rounds = asyncio.run(measure(target, args))

    summary = summarise(rounds)
    print_table(rounds, summary)
    if not args.no_save:
        merge_results(
            {
                **summary,
                "target_events_per_s": 20000,
                "rounds": [
                    {k: v if v is None else round(v, 2) for k, v in r.items()} for r in rounds
                ],
                "cpus": os.cpu_count(),
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        print(f"figures merged into {RESULTS.relative_to(REPO)} under 'registration'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
