"""The service processes and infrastructure faults the chaos suite injects."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import devstack
from devstack import kafka, kannel, procs

# Settings that make the run's outcome independent of the time of day and of the cap: the
# suite checks delivery, not the quiet-hours rule (tested by the notifications service).
SERVICE_ENV: dict[str, dict[str, str]] = {
    "notifications": {
        "NOTIFICATIONS_QUIET_HOURS_START": "00:00",
        "NOTIFICATIONS_QUIET_HOURS_END": "00:00",
        "NOTIFICATIONS_DAILY_CAP_PER_PATIENT": "1000",
        "NOTIFICATIONS_SEND_RETRY_INITIAL_S": "1",
        "NOTIFICATIONS_SEND_RETRY_MAX_S": "10",
        "NOTIFICATIONS_SEND_MAX_ATTEMPTS": "1000",
    },
}
CONSUMERS = ("followup", "complaints", "notifications", "metrics")


@dataclass
class ServiceProcess:
    """One process of a service, on the stack's port for it plus `port_shift`."""

    config: Any
    name: str
    port_shift: int = 0
    process: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.config.service_port(self.name)) + self.port_shift

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def label(self) -> str:
        return self.name if not self.port_shift else f"{self.name}#{self.port_shift}"

    def env(self) -> dict[str, str]:
        env = {**SERVICE_ENV.get(self.name, {}), **self.extra_env}
        env[f"{self.name.upper()}_HTTP_PORT"] = str(self.port)
        if self.name == "registration":
            env["REGISTRATION_MLLP_PORT"] = str(self.config.mllp_port + self.port_shift)
        if self.name == "notifications":
            env["NOTIFICATIONS_PUBLIC_URL"] = self.url
        return env

    def start(self) -> ServiceProcess:
        log = f"chaos-{self.name}" + (f"-{self.port_shift}" if self.port_shift else "")
        self.process = devstack.start_service(self.config, self.name, self.env(), log_name=log)
        return self

    async def ready(self, timeout: float = 120) -> None:
        await devstack.wait_ready_async(self.url, timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        if self.alive():
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()


async def start_all(procs_: list[ServiceProcess]) -> None:
    for p in procs_:
        p.start()
    await asyncio.gather(*(p.ready() for p in procs_))


def _pids(cfg: Any, names: tuple[str, ...]) -> list[int]:
    return [pid for name in names if (pid := procs.running(cfg, name)) is not None]


def restart_kafka(cfg: Any) -> None:
    """Stop the broker (SIGTERM, then SIGKILL after 20 s) and start it again."""
    procs.terminate_groups(_pids(cfg, ("kafka",)), timeout=20)
    kafka.up(cfg)


def stop_kannel(cfg: Any) -> None:
    """Stop bearerbox, smsbox and the fake SMSC: the SMS gateway is down."""
    procs.terminate_groups(_pids(cfg, kannel.NAMES), timeout=10)


def start_kannel(cfg: Any) -> None:
    kannel.up(cfg)


def restart_postgres(cfg: Any) -> None:
    devstack.restart_postgres(cfg)


def env_of(mapping: Mapping[str, str]) -> dict[str, str]:
    return dict(mapping)
