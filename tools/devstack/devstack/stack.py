"""The whole stack: `up` (concurrently, idempotently), `down`, `status`."""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from devstack import (
    alertmanager,
    kafka,
    kannel,
    keycloak,
    postgres,
    procs,
    prometheus,
    services,
    system,
)
from devstack.config import SERVICES, StackConfig
from devstack.procs import StackError

INFRA: dict[str, Callable[[StackConfig], None]] = {
    "kafka": kafka.up,
    "postgres": postgres.up,
    "kannel": kannel.up,
    "prometheus": prometheus.up,
    "alertmanager": alertmanager.up,
}


def write_env(cfg: StackConfig) -> dict[str, str]:
    """`<state>/env`: `export KEY=value` lines (values shell-quoted), so `. .stack/env` (or
    `source`) hands them to the commands started after it, not only to the shell itself."""
    env = cfg.env()
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    cfg.env_file.write_text("\n".join(lines) + "\n")
    return env


def up(cfg: StackConfig, *, with_services: bool = True) -> dict[str, str]:
    """Start (or reuse) Kafka, PostgreSQL, Kannel and Prometheus concurrently, wait until
    each is healthy, optionally start the five services, write `<state>/env`, return the env.
    Keycloak starts alongside, in the background: `keycloak.wait_ready(cfg)` waits for it
    (nothing here needs it; the services fetch its keys when the first token comes).

    When a part fails (or the call is interrupted), what this call started is stopped again,
    so a failed `up` leaves no process holding the stack's ports; what ran before stays.
    """
    procs.refuse_ephemeral_ports(stack_ports(cfg))
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    before = _running(cfg)
    try:
        return _up(cfg, with_services=with_services)
    except BaseException:
        keycloak.cancel_background(cfg)
        _stop_started_since(cfg, before)
        raise


def _running(cfg: StackConfig) -> set[tuple[str, int]]:
    """What runs for this state folder now: (pid file name, pid), PostgreSQL as 'postgres'."""
    found = {(path.name, pid) for path, pid in _recorded_files(cfg, "*.pid")}
    pg = postgres.running_pid(cfg)
    return found | ({("postgres", pg)} if pg is not None else set())


def _stop_started_since(cfg: StackConfig, before: set[tuple[str, int]]) -> None:
    now = _running(cfg)
    started = now - before
    if not started:
        return
    names = ", ".join(sorted(name.removesuffix(".pid") for name, _ in started))
    print(f"devstack: up failed; stopping what it started ({names})", file=sys.stderr)
    if ("postgres", postgres.running_pid(cfg)) in started:
        postgres.stop_postgres(cfg)
    procs.terminate_groups([pid for name, pid in started if name != "postgres"])


def _up(cfg: StackConfig, *, with_services: bool) -> dict[str, str]:
    cfg.state_dir.chmod(0o755)  # the postgres user must traverse it
    cfg.logs_dir.mkdir(exist_ok=True)
    env = write_env(cfg)
    timings: dict[str, float] = {}

    def timed(name: str) -> None:
        started = time.monotonic()
        INFRA[name](cfg)
        timings[name] = time.monotonic() - started

    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=len(INFRA) + 1, thread_name_prefix="devstack") as pool:
        if shutil.which("mvn") and shutil.which("java"):
            pool.submit(kafka.ensure_jars)  # the first download overlaps apt-get; kafka.up waits
        system.ensure_packages()
        keycloak.start_in_background(cfg)
        futures = {name: pool.submit(timed, name) for name in INFRA}
        for name, future in futures.items():
            exc = future.exception()
            if exc is not None:
                errors.append(f"[{name}] {type(exc).__name__}: {exc}")
    if errors:
        raise StackError("the stack did not come up:\n" + "\n".join(errors))
    if with_services:
        started = time.monotonic()
        services.up(cfg)
        timings["services"] = time.monotonic() - started
    summary = ", ".join(f"{name} {secs:.1f}s" for name, secs in timings.items())
    print(f"devstack: up ({summary})", file=sys.stderr)
    return env


def down(cfg: StackConfig, timeout: float = 10.0) -> None:
    """Stop everything this state folder recorded: the services first (so they can finish
    with Kafka and PostgreSQL up), then Kannel, Prometheus, Kafka and PostgreSQL
    (`pg_ctl stop -m fast`). SIGTERM each process group, SIGKILL after `timeout`.
    Then whatever of this stack still runs though no pid file names it (a pid file lost, a
    state folder emptied under a running stack): see `procs.leftovers`.
    """
    keycloak.cancel_background(cfg)  # a start under way in the background spawns nothing now
    procs.terminate_groups(_recorded(cfg, "svc-*.pid"), timeout=timeout)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pg = pool.submit(postgres.stop_postgres, cfg)
        procs.terminate_groups(_recorded(cfg, "*.pid"), timeout=timeout)
        pg.result()
    _recorded(cfg, "*.pid")  # drops the pid files of what is gone
    left = procs.leftovers(cfg, stack_ports(cfg), marks=[str(postgres.pg_root(cfg))])
    if left:
        print(f"devstack: stopping leftovers of {cfg.state_dir}: pids {left}", file=sys.stderr)
        procs.terminate_pids(left, timeout=timeout)


def stack_ports(cfg: StackConfig) -> list[int]:
    """Every port the stack's configuration names (each Kafka node's too)."""
    ports = [getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name.endswith("_port")]
    return ports + [port for n in cfg.kafka_nodes[1:] for port in cfg.kafka_node_ports(n)]


def wipe(cfg: StackConfig) -> None:
    """Delete the data of a stopped stack (Kafka, PostgreSQL wherever it lives, Kannel's store,
    Prometheus, services): the next `up` starts from empty; logs and pid files stay."""
    postgres.wipe(cfg)
    for part in (
        "kafka",
        "postgres",
        "kannel",
        "prometheus",
        "alertmanager",
        "services",
        "keycloak",
    ):
        shutil.rmtree(cfg.state_dir / part, ignore_errors=True)


def _recorded_files(cfg: StackConfig, pattern: str) -> list[tuple[Path, int]]:
    """(pid file, pid) recorded under `pattern` that still run; stale pid files are removed."""
    if not cfg.pids_dir.exists():
        return []
    found = []
    for path in sorted(cfg.pids_dir.glob(pattern)):
        pid = procs.recorded_pid(path)
        if pid is None:
            path.unlink(missing_ok=True)
        else:
            found.append((path, pid))
    return found


def _recorded(cfg: StackConfig, pattern: str) -> list[int]:
    """Pids recorded under `pattern` that still run; stale pid files are removed."""
    return [pid for _, pid in _recorded_files(cfg, pattern)]


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    pid: int | None
    url: str


def status(cfg: StackConfig) -> dict[str, ComponentStatus]:
    """What runs for this state folder, by component (process liveness, not deep health)."""
    operator, operator_port = (
        ("smsc-sim", cfg.kannel_smpp_port)
        if cfg.smsc == "smpp"
        else ("fakesmsc", cfg.kannel_smsc_port)
    )
    urls = {kafka.node_name(n): f"127.0.0.1:{cfg.kafka_node_ports(n)[0]}" for n in cfg.kafka_nodes}
    urls |= {
        "postgres": cfg.database_url,
        "bearerbox": cfg.kannel_admin_url,
        "smsbox": cfg.kannel_sendsms_url,
        operator: f"127.0.0.1:{operator_port}",
        "prometheus": cfg.prometheus_url,
        "alertmanager": cfg.alertmanager_url,
        "keycloak": cfg.keycloak_url,
    }
    result: dict[str, ComponentStatus] = {}
    for name, url in urls.items():
        pid = postgres.running_pid(cfg) if name == "postgres" else procs.running(cfg, name)
        result[name] = ComponentStatus(name, pid is not None, pid, url)
    for name in SERVICES:
        pids = services.service_pids(cfg, name)
        pid = pids[0] if pids else None
        result[name] = ComponentStatus(name, pid is not None, pid, cfg.service_url(name))
    return result
