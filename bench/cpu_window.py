"""What a timed window cost the machine: its busy share of all cores (/proc/stat, whoever
ran) and the CPU of the measured processes (a service's instances or the bench's own client,
PostgreSQL, Kafka) in cores, so that a rate on a shared machine is read with the CPU it had."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

from bench.drain import _cpu_seconds
from bench.stack import Proc, busy_share, gateway_cpu_seconds, machine_cpu_ticks, stack_cpu_seconds
from devstack import StackConfig


@dataclasses.dataclass
class Window:
    """What one timed window cost the machine: its CPU in cores (CPU seconds per second)."""

    seconds: float
    machine_busy_share: float  # of all cores, from /proc/stat
    cores: dict[str, float]  # by process: the service (or raw client), postgres, kafka
    # the services' share of `cores["service"]`, by service (instances added up)
    by_service: dict[str, float] = dataclasses.field(default_factory=dict)
    # besides the measured processes: Kannel with its operator, and this process (`bench`:
    # the latency phase's load generator, a drain's offset poller) when the window measures
    # services, so that `other_cores` is what no process accounts for
    side: dict[str, float] = dataclasses.field(default_factory=dict)

    def summary(self, events: int) -> dict[str, Any]:
        ncpu = os.cpu_count() or 1
        ours = sum(self.cores.values()) + sum(self.side.values())
        return {
            "events": events,
            "seconds": round(self.seconds, 2),
            "events_per_s": round(events / self.seconds) if self.seconds > 0 else 0,
            "machine_busy_share": round(self.machine_busy_share, 3),
            "machine_busy_cores": round(self.machine_busy_share * ncpu, 2),
            "cores_by_process": {k: round(v, 2) for k, v in self.cores.items()},
            "side_cores": {k: round(v, 2) for k, v in self.side.items()},
            # the busy cores none of the measured processes account for
            "other_cores": round(max(0.0, self.machine_busy_share * ncpu - ours), 2),
            "cpu_ms_per_event": {
                k: round(1000 * v * self.seconds / events, 3) if events else 0.0
                for k, v in self.cores.items()
            },
            "load_average_1m": round(os.getloadavg()[0], 2),
        } | self._by_service(events)

    def _by_service(self, events: int) -> dict[str, Any]:
        if not self.by_service or not events:
            return {}
        return {
            "service_cpu_ms_per_event": {
                k: round(1000 * v * self.seconds / events, 3) for k, v in self.by_service.items()
            }
        }


class Meter:
    """Reads the machine's ticks and the processes' CPU seconds at the start of a window."""

    def __init__(self, cfg: StackConfig, procs: list[Proc] | None = None) -> None:
        self.cfg, self.procs = cfg, procs
        self.started = time.monotonic()
        self.ticks = machine_cpu_ticks()
        self.stack = stack_cpu_seconds(cfg)
        self.own = _cpu_seconds(procs) if procs else time.process_time()
        self.own_by_service = _by_service(procs or [])
        self.side = self._side()

    def stop(self) -> Window:
        seconds = time.monotonic() - self.started
        ticks = machine_cpu_ticks()
        stack = stack_cpu_seconds(self.cfg)
        own = _cpu_seconds(self.procs) if self.procs else time.process_time()
        label = "service" if self.procs else "raw client"
        cpu = {label: own - self.own} | {k: stack[k] - self.stack[k] for k in stack}
        per_s = {k: v / seconds if seconds > 0 else 0.0 for k, v in cpu.items()}
        by_service = {
            name: (used - self.own_by_service.get(name, 0.0)) / seconds if seconds > 0 else 0.0
            for name, used in _by_service(self.procs or []).items()
        }
        side = {k: (v - self.side[k]) / seconds if seconds > 0 else 0.0
                for k, v in self._side().items()}  # fmt: skip
        return Window(seconds, busy_share(self.ticks, ticks), per_s, by_service, side)

    def _side(self) -> dict[str, float]:
        out = {"kannel": gateway_cpu_seconds(self.cfg)}
        if self.procs:  # the services measured: this process is the bench's own
            out["bench"] = time.process_time()
        return out


def _by_service(procs: list[Proc]) -> dict[str, float]:
    """CPU seconds used so far by each service (its instances added up)."""
    used: dict[str, float] = {}
    for proc in procs:
        used[proc.name] = used.get(proc.name, 0.0) + _cpu_seconds([proc])
    return used
