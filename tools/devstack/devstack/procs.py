"""Child processes of the stack: start them detached, record them, find them, stop them.

Every process is started in its own session (so its process group id is its pid) with its
output appended to `<state>/logs/<name>.log`, and recorded in `<state>/pids/<name>.pid` as
"<pid> <start time>" so a recycled pid is never mistaken for ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from devstack.config import StackConfig

T = TypeVar("T")

# Every process devstack starts carries this variable, set to its stack's state folder: what
# `down` finds leftovers by when their pid files are gone (never exported in `<state>/env`, so
# a shell that loaded the stack's environment is not mistaken for a part of the stack).
OWNER_VARIABLE = "DEVSTACK_OWNER"


class StackError(RuntimeError):
    """A component could not be started or did not become ready."""


class GiveUp(StackError):
    """Raised by a readiness check of `wait_until` when waiting longer is pointless (a process
    it waits for has died); any other exception of a check means "not yet"."""


def run_coro(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even when this thread already runs an
    event loop (an async test calling `restart_postgres`): then it runs in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid pgrp ..." where comm may contain spaces and parentheses.
    return [raw[: raw.index(" ")], *raw[raw.rindex(")") + 2 :].split()]


def start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot), or None when it is gone."""
    fields = _stat_fields(pid)
    return fields[20] if fields else None


def is_alive(pid: int) -> bool:
    """True when `pid` exists and is not a zombie (a zombie child of ours is reaped here)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    fields = _stat_fields(pid)
    return fields is not None and fields[1] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and fields[3] == str(pgid) and fields[1] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def pid_path(cfg: StackConfig, name: str) -> Path:
    return cfg.pids_dir / f"{name}.pid"


def record(cfg: StackConfig, name: str, pid: int) -> None:
    cfg.pids_dir.mkdir(parents=True, exist_ok=True)
    pid_path(cfg, name).write_text(f"{pid} {start_time(pid) or ''}\n")


def recorded_pid(path: Path) -> int | None:
    """The pid recorded in `path` when that very process still runs; else None."""
    try:
        parts = path.read_text().split()
    except OSError:
        return None
    if not parts:
        return None
    pid = int(parts[0])
    if not is_alive(pid):
        return None
    if len(parts) > 1 and start_time(pid) != parts[1]:
        return None
    return pid


def running(cfg: StackConfig, name: str) -> int | None:
    """The pid of component `name` of this stack when it runs; clears a stale pid file."""
    path = pid_path(cfg, name)
    pid = recorded_pid(path)
    if pid is None:
        path.unlink(missing_ok=True)
    return pid


def spawn(
    cfg: StackConfig,
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: int = subprocess.DEVNULL,
    record_as: str | None = None,
    log_name: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` detached in its own session, logging to `<logs>/<log_name or name>.log`.

    The pid is recorded as `record_as` (default `name`); "{pid}" in it is replaced.
    """
    cfg.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = cfg.log_file(log_name or name)
    env = {**(os.environ if env is None else env), **owner_env(cfg)}
    with log_path.open("ab") as log:
        log.write(f"\n==== {time.strftime('%F %T')} devstack starts: {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(argv),
            stdin=stdin,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    record(cfg, (record_as or name).replace("{pid}", str(proc.pid)), proc.pid)
    return proc


def owner_env(cfg: StackConfig) -> dict[str, str]:
    """The marker every process of this stack is started with (see `OWNER_VARIABLE`)."""
    return {OWNER_VARIABLE: str(cfg.state_dir.resolve())}


def _environ(pid: int) -> dict[bytes, bytes]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def _listening(ports: Iterable[int]) -> dict[str, int]:
    """Sockets listening on one of `ports` (TCP, IPv4 or IPv6): "socket:[inode]" -> port."""
    wanted = set(ports)
    inodes: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                port = int(fields[1].rsplit(":", 1)[1], 16)
                if fields[3] == "0A" and port in wanted:  # 0A = LISTEN
                    inodes[f"socket:[{fields[9]}]"] = port
    return inodes


def listeners(ports: Iterable[int]) -> dict[int, int]:
    """pid -> port for every process listening on one of `ports`, read from /proc: the
    socket's inode in /proc/net/tcp*, then whose descriptor points at it."""
    inodes = _listening(ports)
    found: dict[int, int] = {}
    if not inodes:
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                with contextlib.suppress(OSError):
                    held = inodes.get(os.readlink(fd.path))
                    if held is not None:
                        found[int(entry.name)] = held
    return found


def leftovers(cfg: StackConfig, ports: Iterable[int], marks: Iterable[str] = ()) -> list[int]:
    """Processes of this stack that no pid file names any more: those started with its
    marker (`OWNER_VARIABLE`), and those listening on one of its `ports` whose command line
    names its state folder (or one of `marks`, e.g. PostgreSQL's data folder elsewhere).
    Never this process or its ancestors."""
    owner = owner_env(cfg)[OWNER_VARIABLE].encode()
    names = [str(cfg.state_dir).encode(), owner, *(m.encode() for m in marks)]
    ours = _ancestors()
    found = {
        int(e.name)
        for e in os.scandir("/proc")
        if e.name.isdigit() and _environ(int(e.name)).get(OWNER_VARIABLE.encode()) == owner
    }
    for pid in listeners(ports):
        if any(name in _cmdline(pid) for name in names):
            found.add(pid)
    return sorted(pid for pid in found - ours if is_alive(pid))


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        fields = _stat_fields(pid)
        pid = int(fields[2]) if fields else 0
    return pids


def terminate_pids(pids: Iterable[int], timeout: float = 10.0) -> None:
    """Stop each process with its whole process group (our own group is never signalled)."""
    groups = set()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            groups.add(os.getpgid(pid))
    groups.discard(os.getpgrp())
    terminate_groups(groups, timeout=timeout)


def terminate_groups(pgids: Iterable[int], timeout: float = 10.0) -> None:
    """SIGTERM every process group, wait up to `timeout`, then SIGKILL what is left."""
    pending = set(pgids)
    for pgid in pending:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for pgid in list(pending):
            is_alive(pgid)  # reap the leader when it is our child
            if not group_members(pgid):
                pending.discard(pgid)
        if pending:
            time.sleep(0.1)
    for pgid in pending:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    # A killed process in uninterruptible I/O (a JVM flushing its logs on a loaded machine)
    # dies, and lets go of its ports, only when that I/O ends: Kafka's controller port was
    # still held 5 s after the SIGKILL in a fresh-clone run at load 25.
    deadline = time.monotonic() + max(5.0, timeout)
    while pending and time.monotonic() < deadline:
        for pgid in list(pending):
            is_alive(pgid)
            if not group_members(pgid):
                pending.discard(pgid)
        if pending:
            time.sleep(0.05)


def port_open(port: int) -> bool:
    """True when something listens on `port`. Read from /proc, not by connecting: the test
    stacks' ports may lie in the kernel's ephemeral range (32768-60999), and a connection to
    a port nobody listens on yet can then be given that very port as its own and connect to
    itself, which holds the port the component is about to bind ("Address already in use")."""
    if Path("/proc/net/tcp").exists():
        return bool(_listening([port]))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # pragma: no cover
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def ephemeral_range(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> range:
    """The ports the kernel hands to outgoing connections (Linux's default 32768-60999)."""
    try:
        low, high = (int(v) for v in path.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def refuse_ephemeral_ports(ports: Iterable[int], *, ephemeral: range | None = None) -> None:
    """A stack port inside the ephemeral range is lost now and then: while a component is
    down, a client reconnecting to it may be given that very port as its own and connect to
    itself, and the restart then fails with "Address already in use" (a chaos run at offset
    46000: Kafka's restart on 55092). Refused before anything starts, with the way out."""
    taken = ephemeral if ephemeral is not None else ephemeral_range()
    inside = sorted(p for p in ports if p in taken)
    if inside:
        raise StackError(
            f"ports {inside[:5]}{'...' if len(inside) > 5 else ''} lie in the kernel's range for"
            f" outgoing connections ({taken.start}-{taken.stop - 1}): a client may take one while"
            " its component restarts; choose a port offset that keeps every port below"
            f" {taken.start} (DEVSTACK_TEST_PORT_OFFSET, BENCH_PORT_SHIFT)"
        )


def ensure_port_free(port: int, what: str) -> None:
    if port_open(port):
        raise StackError(
            f"{what}: port {port} on 127.0.0.1 is already taken by a process this stack did not "
            f"start (another stack, or a system service?); stop it or use other ports"
        )


def tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    log: Path | None = None,
    pid: int | None = None,
    interval: float = 0.2,
) -> None:
    """Poll `check` until it is true; fail early when `pid` dies, with the log's tail."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            if check():
                return
        except GiveUp:
            raise
        except Exception as exc:  # a check that raises just means "not yet"
            last = f" (last check: {type(exc).__name__}: {exc})"
        if pid is not None and not is_alive(pid):
            raise StackError(f"{what}: the process exited" + _log_hint(log))
        if time.monotonic() > deadline:
            raise StackError(f"{what}: not ready after {timeout:.0f}s{last}" + _log_hint(log))
        time.sleep(interval)


def _log_hint(log: Path | None) -> str:
    if log is None:
        return ""
    return f"; last lines of {log}:\n{tail(log)}"


def run(argv: Sequence[str], *, what: str, timeout: float = 120.0, **kw: object) -> str:
    """Run a short command to completion; raise StackError with its output when it fails."""
    try:
        done = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kw,  # type: ignore[call-overload]
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"{what}: {exc}") from exc
    if done.returncode != 0:
        raise StackError(
            f"{what}: `{' '.join(argv)}` exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    out: str = done.stdout
    return out
