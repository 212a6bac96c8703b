"""The five services, each as its own `python -m <name>` process with the stack environment."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

import httpx

from devstack import procs
from devstack.config import REPO_ROOT, SERVICES, StackConfig
from devstack.procs import StackError


def _readyz(url: str) -> str:
    """`url` itself when it has a path, else `<url>/readyz`."""
    return url if urllib.parse.urlsplit(url).path not in ("", "/") else url.rstrip("/") + "/readyz"


def _listens(url: str) -> bool:
    """Whether the URL's port has a listener yet; polling it before may connect to itself
    (see `procs.port_open`)."""
    return procs.port_open(urllib.parse.urlsplit(url).port or 80)


def _check_module(name: str) -> None:
    if name not in SERVICES:
        raise StackError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
    try:
        spec = importlib.util.find_spec(f"{name}.__main__")
    except ImportError as exc:
        raise StackError(f"service {name}: cannot import package {name!r}: {exc}") from exc
    if spec is None:
        raise StackError(
            f"service {name}: module {name}.__main__ is missing, so `python -m {name}` cannot run"
        )


def service_pids(cfg: StackConfig, name: str) -> list[int]:
    """Pids of the running processes of service `name` started for this stack."""
    pids = []
    for path in sorted(cfg.pids_dir.glob(f"svc-{name}-*.pid")):
        pid = procs.recorded_pid(path)
        if pid is None:
            path.unlink(missing_ok=True)
        else:
            pids.append(pid)
    return pids


def start_service(
    cfg: StackConfig,
    name: str,
    extra_env: Mapping[str, str] | None = None,
    *,
    log_name: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start one process of service `name` (`<python> -m <name>`); does not wait for it.

    Its environment is this process's, then the stack env, then `extra_env`. Output goes to
    `<state>/logs/<log_name or name>.log`; the pid is recorded so `down` stops it. Tests may
    start several processes of one service (pass distinct `log_name`s to keep logs apart).
    """
    _check_module(name)
    env = {**os.environ, **cfg.env(), "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    return procs.spawn(
        cfg,
        name,
        [sys.executable, "-m", name],
        env=env,
        cwd=REPO_ROOT,
        record_as=f"svc-{name}-{{pid}}",
        log_name=log_name,
    )


def wait_ready(
    url: str,
    timeout: float = 60.0,
    *,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Wait until GET `<url>/readyz` (or `url` when it has a path) answers 200.

    Fails at once when `proc` exits; the error carries the tail of `log`.
    """
    target = _readyz(url)

    def check() -> bool:
        if not _listens(target):
            return False
        return httpx.get(target, timeout=2.0).status_code == 200

    procs.wait_until(
        check,
        timeout=timeout,
        what=f"{target}",
        log=log,
        pid=proc.pid if proc is not None else None,
        interval=0.25,
    )


async def wait_ready_async(url: str, timeout: float = 60.0, *, poll_s: float = 0.25) -> None:
    """The same as `wait_ready`, for async tests: polls (every `poll_s`) without blocking the
    event loop."""
    target = _readyz(url)
    deadline = time.monotonic() + timeout
    last = ""
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            try:
                if not _listens(target):
                    raise httpx.ConnectError("nothing listens yet")
                resp = await client.get(target)
                if resp.status_code == 200:
                    return
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise StackError(f"{target}: not ready after {timeout:.0f}s ({last})")
            await asyncio.sleep(poll_s)


def up(cfg: StackConfig, timeout: float = 60.0) -> None:
    """Start every service not already running, then wait until all answer /readyz."""
    for name in SERVICES:
        _check_module(name)
    pids = {}
    for name in SERVICES:
        running = service_pids(cfg, name)
        if running:
            pids[name] = running[0]
        else:
            procs.ensure_port_free(cfg.service_port(name), f"service {name}")
            pids[name] = start_service(cfg, name).pid
    pending = set(SERVICES)
    deadline = time.monotonic() + timeout
    while pending:
        for name in sorted(pending):
            try:
                url = _readyz(cfg.service_url(name))
                if _listens(url) and httpx.get(url, timeout=2.0).status_code == 200:
                    pending.discard(name)
                    continue
            except httpx.HTTPError:
                pass
            if not procs.is_alive(pids[name]):
                _fail(cfg, [name], "exited")
        if pending and time.monotonic() > deadline:
            _fail(cfg, sorted(pending), f"not ready after {timeout:.0f}s")
        if pending:
            time.sleep(0.25)


def _fail(cfg: StackConfig, names: list[str], why: str) -> None:
    parts = []
    for name in names:
        log = cfg.log_file(name)
        parts.append(f"service {name} {why}; last lines of {log}:\n{procs.tail(log)}")
    message = "\n\n".join(parts)
    print(message, file=sys.stderr)
    raise StackError(message)
