"""The benchmark's own native stack (state in `.stack-bench`, every port + 16000, all below
the kernel's ephemeral range; BENCH_PORT_SHIFT moves it, so two checkouts can bench at once)
and its service processes, with an RSS sampler."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

import devstack
from devstack import StackConfig

REPO = Path(__file__).resolve().parent.parent
PORT_SHIFT = int(os.environ.get("BENCH_PORT_SHIFT", "16000"))

# Make SMS go out at any hour and never hit the per-patient cap, so latency is measured.
SERVICE_ENV: dict[str, dict[str, str]] = {
    "notifications": {
        "NOTIFICATIONS_QUIET_HOURS_START": "00:00",
        "NOTIFICATIONS_QUIET_HOURS_END": "00:00",
        "NOTIFICATIONS_DAILY_CAP_PER_PATIENT": "100000",
    },
}


def bench_config() -> StackConfig:
    base = StackConfig(state_dir=REPO / ".stack-bench")
    ports = {
        f.name: getattr(base, f.name) + PORT_SHIFT
        for f in dataclasses.fields(base)
        if f.name.endswith("_port")
    }
    return dataclasses.replace(base, **ports)


def fresh_stack(cfg: StackConfig) -> dict[str, str]:
    """Stop the bench stack, drop its data, start Kafka, PostgreSQL, Kannel and Prometheus."""
    devstack.down(cfg)
    devstack.wipe(cfg)  # PostgreSQL's data too when it lives outside the state folder
    return devstack.up(cfg, with_services=False)


# How often readiness and progress are polled: a drain of a few seconds (complaints) would
# otherwise be timed to within ±0.25 s at each end.
POLL_S = 0.05


@dataclass
class Proc:
    cfg: StackConfig
    name: str
    port_shift: int = 0
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.service_port(self.name) + self.port_shift}"

    @property
    def label(self) -> str:
        """The service's name; a second or third instance (ports + 100, + 200) `name#2`..."""
        return self.name if not self.port_shift else f"{self.name}#{self.port_shift // 100 + 1}"

    def start(self) -> Proc:
        env = {**SERVICE_ENV.get(self.name, {}), **self.env}
        env[f"{self.name.upper()}_HTTP_PORT"] = str(
            self.cfg.service_port(self.name) + self.port_shift
        )
        if self.name == "notifications":
            env["NOTIFICATIONS_PUBLIC_URL"] = self.url
        log = f"bench-{self.name}" + (f"-{self.port_shift}" if self.port_shift else "")
        self.process = devstack.start_service(self.cfg, self.name, env, log_name=log)
        return self

    async def ready(self, timeout: float = 180) -> None:
        await devstack.wait_ready_async(self.url, timeout, poll_s=POLL_S)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


class RssSampler:
    """Samples the resident memory of service processes every `interval` seconds. The peak is
    the kernel's high-water mark of each process (`VmHWM`), so a spike between two samples
    counts too."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.peak: dict[str, int] = {}
        self.marks: dict[str, dict[str, int]] = {}
        # label -> [(events consumed, resident MB)], taken as a drain passes each step
        self.series: dict[str, list[tuple[int, float]]] = {}
        self._procs: dict[str, Proc] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, proc: Proc) -> None:
        self._procs[proc.label] = proc

    def current(self, label: str) -> int:
        proc = self._procs.get(label)
        if proc is None or proc.process is None:
            return 0
        try:
            return int(psutil.Process(proc.process.pid).memory_info().rss)
        except psutil.Error:
            return 0

    def high_water(self, label: str) -> int:
        """The process's peak resident memory so far (Linux's VmHWM), else its current one."""
        proc = self._procs.get(label)
        if proc is None or proc.process is None:
            return 0
        try:
            status = Path(f"/proc/{proc.process.pid}/status").read_text()
        except OSError:
            return self.current(label)
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return self.current(label)

    def note_peak(self, label: str) -> None:
        self.peak[label] = max(self.peak.get(label, 0), self.high_water(label))

    def mark(self, label: str, name: str) -> None:
        self.marks.setdefault(label, {})[name] = self.current(label)
        self.note_peak(label)

    def record(self, label: str, events: int) -> None:
        """The process's resident memory now, beside the events it has consumed: the curve
        that shows whether it is flat."""
        self.series.setdefault(label, []).append((events, mb(self.current(label))))
        self.note_peak(label)

    async def _run(self) -> None:
        while True:
            for label in list(self._procs):
                self.note_peak(label)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def now() -> float:
    return time.monotonic()


def mb(n: int) -> float:
    return round(n / 1024 / 1024, 1)


def gateway_cpu_seconds(cfg: StackConfig) -> float:
    """CPU seconds (user + system) Kannel and its operator have used so far: bearerbox,
    smsbox and fakesmsc or the SMPP simulator, by devstack's pid files (absent ones: none)."""
    from devstack import kannel

    used = 0.0
    for name in kannel.NAMES:
        pid_file = cfg.state_dir / "pids" / f"{name}.pid"
        with contextlib.suppress(OSError, ValueError, IndexError, psutil.Error):
            t = psutil.Process(int(pid_file.read_text().split()[0])).cpu_times()
            used += t.user + t.system
    return used


def stack_cpu_seconds(cfg: StackConfig) -> dict[str, float]:
    """CPU seconds (user + system) PostgreSQL and Kafka have used so far: the postmaster,
    its live backends and the ones that have ended (its children's times), and the broker.
    The difference over a drain is what the drain cost them, per event beside the
    service's own (a backend that is still running at the end counts up to then)."""
    from devstack import kafka, postgres

    out = {"postgres": 0.0, "kafka": 0.0}
    pid = postgres.running_pid(cfg)
    if pid is not None:
        with contextlib.suppress(psutil.Error):
            master = psutil.Process(pid)
            t = master.cpu_times()
            out["postgres"] = t.user + t.system + t.children_user + t.children_system
            for child in master.children():
                with contextlib.suppress(psutil.Error):
                    c = child.cpu_times()
                    out["postgres"] += c.user + c.system
    for node in cfg.kafka_nodes:  # every broker of a three-broker cluster
        pid_file = cfg.state_dir / "pids" / f"{kafka.node_name(node)}.pid"
        with contextlib.suppress(OSError, ValueError, IndexError, psutil.Error):
            k = psutil.Process(int(pid_file.read_text().split()[0])).cpu_times()
            out["kafka"] += k.user + k.system + k.children_user + k.children_system
    return out


def machine_cpu_ticks(stat: str | None = None) -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot, from /proc/stat's `cpu` line: busy
    is everything but idle and iowait, whoever ran (other people's work on a shared machine
    too). Two readings give the machine's busy share over a window (`busy_share`)."""
    text = stat if stat is not None else Path("/proc/stat").read_text()
    fields = [int(x) for x in text.splitlines()[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share (0..1) of all cores' time that was busy between two `machine_cpu_ticks`."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else 0.0
