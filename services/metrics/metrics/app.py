"""Wiring of the metrics service: runtime, one consumer per topic, live metrics, KPI routes."""

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

# handler name (and consumer group suffix) -> topic. One consumer per topic, so a backlog on
# one topic does not hold back the others, and lag is seen per topic.
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
    for handler_name, topic in CONSUMED.items():
        runtime.consume(
            topic,
            handler_name=handler_name,
            handle=handler.handle,
            handle_batch=handler.handle_batch,
        )
    runtime.publishes(*event_types_on(topics.QUEUE_EPISODES))
    live = LiveMetrics(settings, install_collector())
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
