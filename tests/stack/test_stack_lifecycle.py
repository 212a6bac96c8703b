"""The stack's own lifecycle on a stack of its own (state folder and ports apart from the
session's test stack): a failed `up` stops what it started, `down` finds what its pid files
lost, PostgreSQL runs from a checkout others cannot enter, and `<state>/env` exports.

The stack here is the test stack's port offset + 300 (DEVSTACK_TEST_PORT_OFFSET, default
10000), in `.stack-test-<offset>-lifecycle/`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from devstack import StackConfig, StackError, down, postgres, procs, status, up, wipe, write_env
from devstack.config import state_root
from devstack.stack import stack_ports

REPO = Path(__file__).resolve().parents[2]
_OFFSET = int(os.environ.get("DEVSTACK_TEST_PORT_OFFSET", "10000")) + 300


def _config(state_dir: Path) -> StackConfig:
    return StackConfig.shifted(state_dir, _OFFSET)


def _open_ports(cfg: StackConfig, *, but: tuple[int, ...] = ()) -> list[int]:
    return [port for port in stack_ports(cfg) if port not in but and procs.port_open(port)]


def _holders(cfg: StackConfig) -> dict[int, str]:
    """Who still listens on the stack's ports: pid -> state and command line (for a failure)."""
    held = procs.listeners(stack_ports(cfg))
    return {
        pid: f"{_state(pid)} {Path(f'/proc/{pid}/cmdline').read_bytes()[:120]!r}" for pid in held
    }


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _running(cfg: StackConfig) -> list[str]:
    return [name for name, comp in status(cfg).items() if comp.running]


@pytest.fixture
def own_stack() -> Iterator[StackConfig]:
    cfg = _config(REPO / f".stack-test-{_OFFSET - 300}-lifecycle")
    down(cfg)
    wipe(cfg)
    try:
        yield cfg
    finally:
        down(cfg)
        wipe(cfg)


@pytest.mark.stack
def test_a_failed_up_stops_what_it_started(own_stack: StackConfig) -> None:
    """Prometheus cannot start (a foreign process holds its port) while Kafka, PostgreSQL and
    Kannel come up beside it: the failed `up` must take those down again."""
    cfg = own_stack
    with socket.create_server(("127.0.0.1", cfg.prometheus_port)):
        with pytest.raises(StackError, match=r"\[prometheus\].*already taken"):
            up(cfg, with_services=False)
        assert _running(cfg) == []
        assert _open_ports(cfg, but=(cfg.prometheus_port,)) == []
        assert procs.leftovers(cfg, stack_ports(cfg)) == []


@pytest.mark.stack
def test_down_stops_what_its_pid_files_lost(own_stack: StackConfig) -> None:
    cfg = own_stack
    up(cfg, with_services=False)
    assert {"kafka", "postgres", "bearerbox", "prometheus"} <= set(_running(cfg))
    shutil.rmtree(cfg.pids_dir)  # as a hand-cleaned state folder, or a killed `up`, leaves it
    down(cfg)
    assert _open_ports(cfg) == [], _holders(cfg)
    assert procs.leftovers(cfg, stack_ports(cfg)) == []


def test_leftovers_are_never_a_shell_that_loaded_the_env(own_stack: StackConfig) -> None:
    """A process with the stack's environment but not started by it (a developer's shell after
    `. .stack/env`, a `tail -f` of a log) is not a leftover; one started by it is."""
    cfg = own_stack
    env = {**os.environ, **cfg.env()}
    bystander = subprocess.Popen(["sleep", "60", str(cfg.state_dir)], env=env)
    ours = procs.spawn(cfg, "sleeper", ["sleep", "60"])
    try:
        found = procs.leftovers(cfg, stack_ports(cfg))
        assert ours.pid in found
        assert bystander.pid not in found
    finally:
        bystander.kill()
        ours.kill()
        bystander.wait()
        ours.wait()


@pytest.mark.stack
def test_postgres_runs_from_a_folder_others_cannot_enter(tmp_path: Path) -> None:
    """A checkout in a home folder of mode 0700: when we are root, PostgreSQL runs as the
    postgres user, who cannot enter it; its data, socket and log then live elsewhere."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    home.chmod(0o700)
    cfg = _config(home / "clone" / ".stack")
    cfg.state_dir.mkdir(parents=True)
    cfg.state_dir.chmod(0o755)
    try:
        postgres.start_postgres(cfg)
        assert asyncio.run(_select_one(cfg.database_url)) == 1
        assert "database system is ready" in cfg.log_file("postgres").read_text()
    finally:
        postgres.stop_postgres(cfg)
        wipe(cfg)
    assert postgres.running_pid(cfg) is None
    assert not postgres.pg_root(cfg).exists()


async def _select_one(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        value: int = await conn.fetchval("SELECT 1")
        return value
    finally:
        await conn.close()


def test_sourcing_the_env_file_exports_it(tmp_path: Path) -> None:
    """`source .stack/env` (README) must hand the variables to the commands run after it."""
    cfg = StackConfig(state_dir=tmp_path / ".stack")
    env = write_env(cfg)
    script = f". {cfg.env_file} && printenv KAFKA_BOOTSTRAP_SERVERS DATABASE_URL TOKEN_ADMIN"
    clean = {"PATH": os.environ["PATH"]}
    out = subprocess.run(["bash", "-c", script], env=clean, capture_output=True, text=True)
    assert out.stdout.splitlines() == [
        env["KAFKA_BOOTSTRAP_SERVERS"],
        env["DATABASE_URL"],
        env["TOKEN_ADMIN"],
    ]


def test_state_root_moves_every_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEVSTACK_STATE_ROOT", raising=False)
    assert StackConfig.default(REPO).state_dir == REPO / ".stack"
    monkeypatch.setenv("DEVSTACK_STATE_ROOT", str(tmp_path))
    root = state_root(REPO)
    assert root.parent == tmp_path and root.name.startswith(f"{REPO.name}-")
    assert StackConfig.default(REPO).state_dir == root / ".stack"
    monkeypatch.setenv("DEVSTACK_TEST_PORT_OFFSET", "30000")
    assert StackConfig.for_tests(REPO).state_dir == root / ".stack-test-30000"
    assert state_root(REPO / "elsewhere") != root  # two checkouts never share one
