"""Starting, killing and restarting real service processes in tests."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

import devstack


def dev_token_roster() -> str:
    """The follow-up development roster cut to the staff the complaints service seeds itself
    (its DEV_STAFF: the desk's agent and supervisor, one cardiology doctor). The full roster
    (a second desk agent, more doctors, cardiology's ward supervisor) reaches the complaints
    service through the roster topic and changes whom every later test's cases go to; a test
    that wants more staff puts them on the roster itself."""
    from complaints.settings import DEV_STAFF
    from followup.settings import DEFAULT_SEED_STAFF

    staff = {s.staff_id for s in DEV_STAFF}
    return json.dumps([s for s in DEFAULT_SEED_STAFF if s["staff_id"] in staff])


@dataclass
class RunningService:
    config: Any
    name: str
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_name: str | None = None  # its own log file (default: the service's name)

    @property
    def log(self) -> str:
        return self.config.log_file(self.log_name or self.name).read_text(errors="replace")

    @property
    def url(self) -> str:
        return self.config.env()[f"{self.name.upper()}_URL"]

    def start(self, **extra_env: str) -> RunningService:
        env = {**self.extra_env, **extra_env}
        if self.name == "followup":
            env.setdefault("FOLLOWUP_SEED_STAFF", dev_token_roster())
        if self.name == "notifications":
            # Quiet hours off (start == end) unless a test sets them: SMS are held from 21:00
            # to 08:00 in the hospital's zone, and CI runs at any hour (a CI run at 21:15
            # Shanghai waited 40 s for an acknowledgement held until morning). Quiet hours are
            # unit-tested.
            env.setdefault("NOTIFICATIONS_QUIET_HOURS_START", "00:00")
            env.setdefault("NOTIFICATIONS_QUIET_HOURS_END", "00:00")
        self.process = devstack.start_service(
            self.config, self.name, extra_env=env, log_name=self.log_name
        )
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        devstack.wait_ready(f"{self.url}/readyz", timeout)

    def kill9(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()


@contextlib.contextmanager
def running(config: Any, name: str, env: dict[str, str]) -> Iterator[RunningService]:
    """A service process, ready, for the `with` block; stopped after it, however it ends."""
    service = RunningService(config, name, extra_env=env).start()
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()


@contextlib.contextmanager
def running_all(
    config: Any, names: Sequence[str], env: dict[str, dict[str, str]] | None = None
) -> Iterator[dict[str, RunningService]]:
    """Several service processes (`env`: extra variables per name), all ready, for the `with`
    block; all stopped after it."""
    with contextlib.ExitStack() as started:  # what started is stopped, whatever fails after
        services = {}
        for name in names:
            service = RunningService(config, name, extra_env=(env or {}).get(name, {}))
            started.callback(service.stop)
            services[name] = service.start()
        for service in services.values():
            service.wait_ready()
        yield services


async def planned_task(base_url: str, task_id: str) -> dict[str, Any] | None:
    """The follow-up task `task_id` through the service's API (as an admin), None until it
    exists: for `eventually`."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as api:
        resp = await api.get(
            f"/v1/tasks/{task_id}", headers={"Authorization": "Bearer dev-admin-token"}
        )
    task: dict[str, Any] | None = resp.json() if resp.status_code == 200 else None
    return task


def refused_start_log(config: Any, name: str, env: dict[str, str], *, log_prefix: str) -> str:
    """Start service `name` with `env`, expect it to exit with an error within 60 s (killed
    otherwise), and return its log: what a start that must be refused wrote."""
    log_name = f"{log_prefix}-{uuid.uuid4().hex[:8]}"
    proc = devstack.start_service(config, name, env, log_name=log_name)
    try:
        assert proc.wait(60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return config.log_file(log_name).read_text()  # type: ignore[no-any-return]


async def forget_questionnaire_versions(dsn: str, kind: str) -> None:
    """Delete the saved versions of `kind`'s questionnaire (its packaged one is in force again),
    for a test that saves some: others answer the packaged version."""
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT to_regclass('notifications.questionnaires')"):
            await conn.execute("DELETE FROM notifications.questionnaires WHERE kind = $1", kind)
    finally:
        await conn.close()
