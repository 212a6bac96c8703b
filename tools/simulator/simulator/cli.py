"""`simulate`: publish a simulated hospital day or week, and let simulated staff work it.

    simulate run --days 1 --hospitals 3 --rate 200         # to Kafka, 200 events/s
    simulate run --days 7 --rate 0 --with-staff 600        # a week, as fast as possible,
                                                           # then staff work for 10 minutes
    simulate run --events 5000 --via registration          # through the REST gateway
    simulate run --dry-run --days 1                        # only show what would be sent
    simulate staff --duration 300                          # staff mode alone

Connection settings come from the stack environment (`set -a; . .stack/env; set +a`):
KAFKA_BOOTSTRAP_SERVERS, REGISTRATION_URL, FOLLOWUP_URL, COMPLAINTS_URL, TOKEN_*; a broker
over TLS with a login takes the services' KAFKA_SECURITY_PROTOCOL, KAFKA_SSL_*, KAFKA_SASL_*.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hospital_shared.kafka_security import client_options
from hospital_shared.settings import ServiceSettings
from simulator.hospital import Rates
from simulator.publish import dump_jsonl, publish_to_kafka, publish_via_registration
from simulator.staff import StaffConfig, run_staff
from simulator.stream import TZ, SimConfig, generate, summarise

app = typer.Typer(
    add_completion=False,
    help="Publish a simulated hospital day or week to the input topics; let simulated staff work it.",
)
console = Console(stderr=True)


def parse_start(text: str) -> datetime:
    """`now`, `today` (00:00 hospital time), or an ISO date/time (hospital time if naive)."""
    if text == "now":
        return datetime.now(UTC).replace(microsecond=0)
    if text == "today":
        return datetime.combine(datetime.now(TZ).date(), time(0), TZ)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=TZ)


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def kafka_options() -> dict[str, Any]:
    """TLS / SASL options from the services' own variables (`KAFKA_SECURITY_PROTOCOL`,
    `KAFKA_SSL_*`, `KAFKA_SASL_*`; README "Kafka over TLS"), so `simulate` reaches the same
    broker the services do."""
    return client_options(ServiceSettings())


def _supervisor_tokens() -> tuple[str, ...]:
    """SIM_SUPERVISOR_TOKENS (comma-separated), else the development stack's two supervisors:
    the complaint desk's and the cardiology ward's (each sees only their own cases)."""
    listed = _env("SIM_SUPERVISOR_TOKENS")
    if listed:
        return tuple(t.strip() for t in listed.split(",") if t.strip())
    return (
        _env("TOKEN_SUPERVISOR", "dev-supervisor-token"),
        _env("TOKEN_WARD_SUPERVISOR", "dev-ward-supervisor-token"),
    )


def _staff_config(seed: int) -> StaffConfig:
    return StaffConfig(
        followup_url=_env("FOLLOWUP_URL", "http://127.0.0.1:8002"),
        complaints_url=_env("COMPLAINTS_URL", "http://127.0.0.1:8003"),
        admin_token=_env("TOKEN_ADMIN", "dev-admin-token"),
        supervisor_tokens=_supervisor_tokens(),
        seed=seed,
        director_token=_env("TOKEN_DIRECTOR", "dev-director-token"),
    )


@app.command()
def run(
    seed: Annotated[int, typer.Option(help="same seed (and start) = same stream")] = 42,
    start: Annotated[str, typer.Option(help="now | today | ISO time")] = "today",
    days: Annotated[float, typer.Option(help="simulated period in days")] = 1.0,
    hospitals: Annotated[int, typer.Option(help="hospitals in the regional network")] = 1,
    visits_per_day: Annotated[int, typer.Option(help="outpatient visits per hospital")] = 2000,
    events: Annotated[int | None, typer.Option(help="stop after this many events")] = None,
    rate: Annotated[float, typer.Option(help="events per second; 0 = as fast as possible")] = 100.0,
    run_id: Annotated[str, typer.Option(help="prefix of every id")] = "SIM",
    via: Annotated[str, typer.Option(help="kafka | registration")] = "kafka",
    dry_run: Annotated[bool, typer.Option(help="only print the summary")] = False,
    out: Annotated[str | None, typer.Option(help="also write the stream as JSON lines")] = None,
    with_staff: Annotated[
        float, typer.Option(help="run staff mode alongside, and this many seconds after")
    ] = 0.0,
) -> None:
    """Publish a simulated stream to the input topics."""
    cfg = SimConfig(
        start=parse_start(start),
        seed=seed,
        days=days,
        hospitals=hospitals,
        rates=replace(Rates(), visits_per_day=visits_per_day),
        run_id=run_id,
        max_events=events,
    )
    stream = generate(cfg)
    _print_summary(cfg, summarise(stream))
    if out:
        dump_jsonl(stream, out)
    if dry_run:
        return
    asyncio.run(_publish(stream, rate=rate, via=via, staff_after=with_staff, seed=seed))


async def _publish(stream: list, *, rate: float, via: str, staff_after: float, seed: int) -> None:  # type: ignore[type-arg]
    stop = asyncio.Event()
    staff_task = None
    if staff_after > 0:
        staff_task = asyncio.create_task(run_staff(_staff_config(seed), duration_s=1e9, stop=stop))
    with Progress(
        TextColumn("[bold]publishing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("events", total=len(stream), rate=f"{rate or 'max'} ev/s")

        def advance(n: int) -> None:
            bar.advance(task, n)

        if via == "registration":
            await publish_via_registration(
                _env("REGISTRATION_URL", "http://127.0.0.1:8001"),
                _env("TOKEN_INTEGRATION", "dev-integration-token"),
                stream,
                rate=rate,
                progress=advance,
            )
        else:
            bootstrap = _env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
            await publish_to_kafka(
                bootstrap, stream, rate=rate, progress=advance, kafka_options=kafka_options()
            )
    if staff_task is not None:
        await asyncio.sleep(staff_after)
        stop.set()
        report = await staff_task
        _print_counts("staff actions", report.actions)


@app.command()
def staff(
    duration: Annotated[float, typer.Option(help="seconds to work")] = 300.0,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """Staff mode alone: work follow-up calls and complaint cases through the APIs."""
    report = asyncio.run(run_staff(_staff_config(seed), duration_s=duration))
    _print_counts("staff actions", report.actions)


def _print_summary(cfg: SimConfig, counts: dict[str, int]) -> None:
    end = cfg.start + timedelta(days=cfg.days)
    console.print(
        f"[bold]{cfg.hospitals} hospital(s)[/], {cfg.start.astimezone(TZ):%Y-%m-%d %H:%M} → "
        f"{end.astimezone(TZ):%Y-%m-%d %H:%M} (Asia/Shanghai), seed {cfg.seed}"
    )
    _print_counts("events", counts)


def _print_counts(title: str, counts: dict[str, int]) -> None:
    table = Table(title=title)
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, n in sorted(counts.items()):
        table.add_row(name, str(n))
    table.add_row("[bold]total", f"[bold]{sum(counts.values())}")
    console.print(table)


def main() -> None:
    app()
