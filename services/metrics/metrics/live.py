"""The live Prometheus values: a custom collector serving a snapshot of the KPI store.

Why re-read aggregated rows rather than increment in-memory counters after commit: the
reliable consumer gives handlers a transaction, not an "after commit" hook, and a batch can
be retried after a transient error, so in-memory increments could count an event twice or
miss one. The `counter_totals` rows are the truth (written with the inbox row), there are
few of them (one per bounded label set), and reading them every couple of seconds is cheap.
The same read at start-up loads the totals before the HTTP server answers, so a restart
changes no total, and the counters stay monotonic.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import structlog
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hospital_shared import kafka_security
from metrics import catalog, queries, queue_store
from metrics.kpi import KPIS, evaluate_all, rolling_window
from metrics.lag import GroupLagReader
from metrics.lifecycle import LIMITS
from metrics.settings import Settings

log = structlog.get_logger(__name__)

Samples = list[tuple[dict[str, str], float]]


@dataclass
class Snapshot:
    counters: dict[str, Samples] = field(default_factory=dict)
    gauges: dict[str, Samples] = field(default_factory=dict)
    refreshed_at: float | None = None


class StoreCollector(Collector):
    """Yields every catalogued metric from the current snapshot (empty families included,
    so that every documented name is always present)."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        for spec in catalog.COUNTERS:
            counter = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
            for labels, value in snap.counters.get(spec.name, []):
                counter.add_metric([labels.get(n, "unknown") for n in spec.labels], value)
            yield counter
        for spec in catalog.GAUGES:
            if spec is catalog.STORE_REFRESH_AGE:
                continue
            gauge = GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
            for labels, value in snap.gauges.get(spec.name, []):
                gauge.add_metric([labels.get(n, "unknown") for n in spec.labels], value)
            yield gauge
        age = GaugeMetricFamily(catalog.STORE_REFRESH_AGE.name, catalog.STORE_REFRESH_AGE.help)
        if snap.refreshed_at is not None:
            age.add_metric([], max(0.0, time.monotonic() - snap.refreshed_at))
        yield age


def add_zero_limit_series(counters: dict[str, Samples]) -> None:
    """A 0 for every time limit of every department that has complaint cases, until its
    first warning or breach. Prometheus's `increase()` cannot see a series' first value as an
    increase, so without the 0 the first breach of a department and limit would never fire
    `ComplaintTimeLimitBreached` (nor show on the breaches panel)."""
    cases = counters.get(catalog.COMPLAINTS.name, [])
    departments = {labels.get("department", "unknown") for labels, _ in cases}
    for spec in (catalog.COMPLAINT_WARNINGS, catalog.COMPLAINT_BREACHES):
        samples = counters.setdefault(spec.name, [])
        seen = {(labels.get("department"), labels.get("limit")) for labels, _ in samples}
        samples.extend(
            ({"department": department, "limit": limit}, 0.0)
            for department in sorted(departments)
            for limit in sorted(LIMITS)
            if (department, limit) not in seen
        )


_collector: StoreCollector | None = None


def install_collector() -> StoreCollector:
    """Register one collector in the default registry (replacing one from an earlier app)."""
    global _collector
    if _collector is not None:
        with contextlib.suppress(KeyError):
            REGISTRY.unregister(_collector)
    _collector = StoreCollector()
    REGISTRY.register(_collector)
    return _collector


class LiveMetrics:
    """Keeps the collector's snapshot fresh from the store (and Kafka, for group lag)."""

    def __init__(
        self, settings: Settings, collector: StoreCollector, *, retired_groups: Collection[str] = ()
    ) -> None:
        self.settings = settings
        self.collector = collector
        self._tasks: list[asyncio.Task[None]] = []
        self._lag = GroupLagReader(
            settings.kafka_bootstrap_servers,
            client_id=settings.service_name,
            options=kafka_security.client_options(settings),
            retired=retired_groups,
        )
        self._kpi_gauges: dict[str, Samples] = {}
        self._lag_gauge: Samples = []

    async def start(self, pool: asyncpg.Pool) -> None:
        await self.refresh_kpis(pool)
        await self.refresh_store(pool)  # before the first scrape: totals survive a restart
        self._tasks = [
            self._every(self.settings.store_refresh_interval_s, lambda: self.refresh_store(pool)),
            self._every(self.settings.kpi_refresh_interval_s, lambda: self.refresh_kpis(pool)),
            self._every(self.settings.group_lag_interval_s, self.refresh_lag),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._lag.stop()

    def _every(self, seconds: float, job: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await job()
                except Exception as exc:  # keep serving the last snapshot
                    log.warning("live metrics refresh failed", error=repr(exc))

        return asyncio.create_task(loop(), name=f"live-metrics-{seconds}")

    async def refresh_store(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            totals = await queries.counter_totals(conn, zero_for_s=self.settings.new_series_zero_s)
            gauges = await queries.live_gauges(conn)
            gauges |= await queue_store.queue_gauges(conn)
        counters: dict[str, Samples] = {}
        for metric, labels, value in totals:
            counters.setdefault(metric, []).append((labels, float(value)))
        add_zero_limit_series(counters)
        gauges_all: dict[str, Samples] = {**gauges, **self._kpi_gauges}
        gauges_all[catalog.CONSUMER_GROUP_LAG.name] = self._lag_gauge
        self.collector.snapshot = Snapshot(counters, gauges_all, time.monotonic())

    async def refresh_kpis(self, pool: asyncpg.Pool) -> None:
        s = self.settings
        window = rolling_window(
            datetime.now(UTC),
            days=s.kpi_window_days,
            offset_days=s.kpi_window_offset_days,
            tz=s.hospital_tz,
        )
        async with pool.acquire() as conn:
            counts = await queries.kpi_counts(
                conn, window, department=None, query=queries.KpiQuery.of(s, datetime.now(UTC))
            )
        results = evaluate_all(counts, s.effective_targets())
        self._kpi_gauges = {
            catalog.KPI_VALUE.name: [
                ({"kpi": r.key}, r.value) for r in results if r.value is not None
            ],
            catalog.KPI_NUMERATOR.name: [({"kpi": r.key}, float(r.numerator)) for r in results],
            catalog.KPI_DENOMINATOR.name: [({"kpi": r.key}, float(r.denominator)) for r in results],
            catalog.KPI_PENDING.name: [({"kpi": r.key}, float(r.pending)) for r in results],
            catalog.KPI_TARGET.name: [
                ({"kpi": r.key}, r.target) for r in results if r.target is not None
            ],
            catalog.KPI_TARGET_IS_MINIMUM.name: [({"kpi": d.key}, float(d.minimum)) for d in KPIS],
        }

    async def refresh_lag(self) -> None:
        self._lag_gauge = await self._lag.read()
