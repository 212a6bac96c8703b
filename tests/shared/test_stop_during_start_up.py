"""A service waiting at start for its database obeys SIGTERM and SIGINT: an orchestrator
stopping it (a rollout, `docker stop`, Ctrl+C) must not have to wait for PostgreSQL to come back
or fall back to SIGKILL. Before, the signal was noted by uvicorn and acted on only once start-up
had finished: a service whose database was away kept running (once for some 10 minutes).

A real process, with a database and a broker that nobody answers on; no stack needed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _unused_port() -> int:
    """A port nobody listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_line(log: Path, text: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        assert proc.poll() is None, log.read_text(errors="replace")
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never logged:\n{log.read_text(errors='replace')}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_service_waiting_for_its_database_stops_on_a_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    env = {
        **os.environ,
        "ENV": "test",
        "DATABASE_URL": f"postgresql://hospital:x@127.0.0.1:{_unused_port()}/hospital",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{_unused_port()}",
        "FOLLOWUP_HTTP_PORT": str(_unused_port()),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "followup.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "followup"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_for_line(log, "database not reachable yet", proc)
        proc.send_signal(sig)
        # Bounds a hang, not a speed: without the fix the process is still waiting for the
        # database long after this.
        returncode = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text(errors="replace")
    assert returncode in (-sig, 128 + sig, 0), text
    assert "stopped during start-up" in text
    assert "Traceback" not in text  # a requested stop, not a failure
