"""Wiring of the metrics service: runtime, one consumer of its topics, live metrics, KPI routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from hospital_shared import topics
from hospital_shared.events import event_types_on, topic_for
from hospital_shared.runtime import ServiceRuntime
from metrics import api, appraisal_api, queries
from metrics.handlers import MetricsHandler
from metrics.live import LiveMetrics, install_collector
from metrics.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

# What metrics consumes, all in one consumer group (`metrics.events`). Up to release 0.14 it
# had one group per topic, named by these handler names: each small batch of each of nine
# groups paid a transaction and an offset commit, 15% of metrics' CPU at 1,000 events/s
# (issue 22). The new group starts from those groups' offsets, and its inbox rows keep their
# names (runtime.consume's `replaces`), so an upgrade neither reads again nor counts twice.
# What one group gives up: a backlog on one topic (a replay) now shares the batches of the
# others, whose counters move later while it is worked off. Lag is still measured per topic.
HANDLER = "events"
CONSUMED: dict[str, str] = {
    "registrations": topics.REGISTRATIONS,
    "discharges": topics.DISCHARGES,
    "complaints_in": topics.COMPLAINTS_IN,
    "followup_tasks": topics.FOLLOWUP_TASKS,
    "complaint_cases": topics.COMPLAINT_CASES,
    "notifications": topics.NOTIFICATIONS,
    "staff_roster": topics.STAFF_ROSTER,
    "queue_reports": topics.QUEUE_REPORTS,
    "surveys": topics.SURVEYS,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    queries.check()  # a KPI without its query never starts
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS)
    handler = MetricsHandler(settings, topic_for)
    runtime.consume(
        *CONSUMED.values(),
        handler_name=HANDLER,
        handle=handler.handle,
        handle_batch=handler.handle_batch,
        replaces=CONSUMED,
    )
    runtime.publishes(*event_types_on(topics.QUEUE_EPISODES))
    retired = [f"{settings.consumer_group}.{name}" for name in CONSUMED]
    retired += settings.retired_consumer_groups
    live = LiveMetrics(settings, install_collector(), retired_groups=retired)
    app = runtime.http_app(
        api.router,
        appraisal_api.router,
        title="metrics service",
    )

    async def start_live() -> None:
        assert runtime.pool is not None
        await live.start(runtime.pool)

    runtime.on_start(start_live)
    runtime.on_stop(live.stop)
    return app
