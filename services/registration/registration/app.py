"""Wiring of the registration service: runtime, REST ingest, and the MLLP listener, which runs
in the same process, started and stopped by the runtime (hospital_shared.background)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from fastapi import FastAPI

from hospital_shared import topics
from hospital_shared.events import event_types_on
from hospital_shared.runtime import ServiceRuntime
from registration import api, patients, retention, visits
from registration.handlers import Hl7Handler, rules_from
from registration.ingest import Hl7Control, Ingested, IntakeRejected, ingest, ingest_hl7_group
from registration.intake import Intake
from registration.mllp import MllpServer, tls_context
from registration.parse_pool import ParsePool
from registration.phones import normalise_phone
from registration.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS)
    runtime.publishes(
        *event_types_on(topics.REGISTRATIONS, topics.DISCHARGES, topics.COMPLAINTS_IN),
        *event_types_on(topics.QUEUE_REPORTS),
    )
    # patients' phones (migration 350), searched by their keyed hash; the visits' records (370)
    runtime.seals("visits", "patient_phone", "record", hashes={"phone_hash": "patient_phone"})
    app = runtime.http_app(
        api.router,
        patients.router,
        visits.router,
        title="registration service",
    )
    if settings.mllp_enabled:
        _run_mllp_with(app, runtime, settings)
    _run_retention_with(app, runtime, settings)
    return app


def _run_retention_with(app: FastAPI, runtime: ServiceRuntime, settings: Settings) -> None:
    """The retention pass (registration/retention.py), hourly, while the app runs."""
    rules = settings.retention()

    async def purge() -> int:
        assert runtime.pool is not None
        return await retention.purge(runtime.pool, rules, now=datetime.now(UTC))

    runtime.every(settings.retention_interval_s, "retention", purge, again_if=rules.batch_size)


def _run_mllp_with(app: FastAPI, runtime: ServiceRuntime, settings: Settings) -> None:
    normalise = partial(
        normalise_phone, region=settings.default_phone_region, mobile_only=settings.mobile_only
    )

    async def take(intakes: Sequence[Intake], control: Hl7Control) -> Ingested:
        assert runtime.pool is not None
        return await ingest(runtime.pool, intakes, normalise=normalise, channel="hl7", hl7=control)

    async def take_group(
        messages: Sequence[tuple[Sequence[Intake], Hl7Control]],
    ) -> list[Ingested | IntakeRejected]:
        assert runtime.pool is not None
        return await ingest_hl7_group(runtime.pool, messages, normalise=normalise)

    rules = rules_from(settings)
    parse_pool = ParsePool(
        rules,
        workers=settings.hl7_parse_workers,
        kind=settings.hl7_parse_pool,
        inline_bytes=settings.hl7_parse_inline_bytes,
    )
    handler = Hl7Handler(
        take,
        ingest_group=take_group,
        rules=rules,
        parse=parse_pool,
        us=(settings.hl7_receiving_application, settings.hl7_receiving_facility),
    )
    server = _mllp_server(settings, handler)
    # Started once the runtime is (database pool, migrations, outbox relay): no message is
    # acknowledged before it can be stored. Stopped in the reverse order.
    runtime.on_start(parse_pool.start)
    runtime.on_start(server.start)
    runtime.on_stop(parse_pool.stop)
    runtime.on_stop(server.stop)
    app.state.mllp = server


def _mllp_server(settings: Settings, handler: Hl7Handler) -> MllpServer:
    """The listener with the limits of `settings` (see registration/mllp.py)."""
    return MllpServer(
        handler,
        host=settings.mllp_host,
        port=settings.mllp_port,
        allowed=settings.allowed_networks(),
        ssl_context=tls_context(
            settings.mllp_tls_cert, settings.mllp_tls_key, settings.mllp_tls_client_ca
        ),
        max_message_bytes=settings.mllp_max_message_bytes,
        reject_oversized=handler.too_large,
        idle_timeout_s=settings.mllp_idle_timeout_s,
        read_timeout_s=settings.mllp_read_timeout_s,
        max_connections_per_source=settings.mllp_max_connections_per_source,
        handle_many=handler.many,
        max_group=settings.mllp_max_group,
    )
