"""What every service runs on: the Kafka broker, the database pool and migrations, reliable
consumers, the outbox relay, and the HTTP endpoints `/healthz`, `/readyz`, `/metrics`.

A service's `app.py` builds one `ServiceRuntime`, registers its consumers with `consume`, its
background work with `on_start`/`on_stop`, `every`, `loop` and `run` (hospital_shared.background),
adds its routers, and hands `runtime.http_app(...)` to uvicorn. No service touches the app's
lifespan: the runtime starts the pool, migrations, producers, its own jobs (outbox relay,
consumer lag, access watch, re-seal), the consumers, then the service's hooks and jobs; it
stops them in the reverse order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import gc
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.specification import AsyncAPI
from prometheus_client import REGISTRY

from hospital_shared import (
    access_watch,
    api_docs,
    db,
    field_crypto,
    group_handover,
    http_guard,
    inbox_retention,
    kafka_security,
    serving,
)
from hospital_shared.auth import TokenAuth, load_tokens, whoami_router
from hospital_shared.background import Background, Channel, Hook
from hospital_shared.codec import EVENT_TYPES, Rejection
from hospital_shared.consumer import (
    CONSUMER_LAG,
    DEAD_LETTER_LOST,
    EVENTS_PROCESSED,
    BatchEventHandler,
    EventHandler,
    Received,
    ReliableConsumer,
)
from hospital_shared.events import CloudEvent
from hospital_shared.failpoints import failing_handler
from hospital_shared.health import health_router
from hospital_shared.jwt_auth import OidcConfig, TokenVerifier
from hospital_shared.logging import configure_logging, flush_repeated_logs
from hospital_shared.loop import Loop
from hospital_shared.offset_commits import OffsetCommitter
from hospital_shared.outbox import OutboxRelay
from hospital_shared.path_segments import PathSegments
from hospital_shared.progress import CONSUMER_STALLED, CONSUMER_STALLED_SECONDS, ProgressWatch
from hospital_shared.publishing import publish_records
from hospital_shared.release import RELEASE
from hospital_shared.reseal import SealedBy, SealedColumns, reseal_all
from hospital_shared.secrets import refuse_dev_defaults
from hospital_shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

# The longest a rebalance waits for the commit of the partitions it takes away.
REVOKE_COMMIT_S = 5.0
# How long a stop waits for the batches in the database (`_Group.settle_by`, all groups at
# once) before it cancels them.
STOP_SETTLE_S = 10.0


class DatabaseCertificateRejected(RuntimeError):
    """PostgreSQL's certificate did not verify: the service stops at start with the reason
    instead of retrying, as for any other error in its configuration."""


class _AssignmentTracker(ConsumerRebalanceListener):  # type: ignore[misc]
    """Knows whether the consumer has joined its group and been given its partitions; commits
    what it handled of the partitions taken away before they go (offset_commits.py)."""

    def __init__(self, committer: OffsetCommitter) -> None:
        self.joined = False
        self.partitions: set[Any] = set()
        self.committer = committer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.partitions -= set(revoked)
        try:  # at worst their new owner gets these again, and its inbox skips them
            await asyncio.wait_for(self.committer.revoked(set(revoked)), REVOKE_COMMIT_S)
        except (KafkaError, TimeoutError) as exc:
            log.warning("offsets of revoked partitions not committed", error=repr(exc))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.partitions |= set(assigned)
        self.joined = True


@dataclass
class _Group:
    """One consumer group of this service: its reliable consumer, whether it has partitions,
    whether it progresses, and FastStream's subscriber (which holds the aiokafka consumer)."""

    name: str
    topics: tuple[str, ...]
    consumer: ReliableConsumer
    tracker: _AssignmentTracker
    watch: ProgressWatch
    committer: OffsetCommitter
    subscriber: Any = None
    # The batch in the database while the next is fetched and decoded (`consumer_decode_ahead`):
    # the next is handled only once it is done, so batches are handled one after another, in
    # order. Left in place when done: whoever waits on it (the next batch, a stop) reads it.
    in_flight: asyncio.Task[None] | None = None
    # The records of the batch decoded ahead, by topic, while it waits for `in_flight`: not
    # on the broker any more, not handled yet, so still lag (`hospital_consumer_lag`).
    ahead: dict[str, int] = field(default_factory=dict)
    stopping: bool = False  # the service is stopping: each batch handled before the next fetch
    # A stop cancelled a batch it could not wait for: no later batch is handled, or its
    # offsets would be committed past the cancelled one's records (fetched at the next start).
    abandoned: bool = False

    def start_batch(self, work: Coroutine[Any, Any, None], message: Any) -> asyncio.Task[None]:
        """`work` (a batch's `_process_and_commit`) as the batch in flight, in a context that
        does not hold the batch (see without_value)."""
        task = asyncio.create_task(work, context=without_value(message))
        task.add_done_callback(self._report_failure)
        self.in_flight = task
        return task

    async def wait_in_flight(self) -> None:
        """The batch in the database handled, however long it takes: the database away, it is
        retried in place, and the next batch must not go past it."""
        if self.in_flight is not None:
            await asyncio.wait([self.in_flight])

    async def settle_by(self, deadline: float) -> None:
        """At a stop: wait for the batch in the database (and one a batch already waiting on it
        starts) until `deadline` (the loop's clock); then cancel it, roll it back and handle
        nothing more: its records are fetched again at the next start."""
        loop = asyncio.get_running_loop()
        while (task := self.in_flight) is not None and not task.done():
            done, _ = await asyncio.wait([task], timeout=max(0.0, deadline - loop.time()))
            if not done:
                self.abandoned = True
                log.warning("batch still in the database at stop, cancelled", group=self.name)
                task.cancel()
                await asyncio.wait([task])

    def _report_failure(self, task: asyncio.Task[None]) -> None:
        """A batch's own failure (FastStream's to log when batches were awaited in turn); the
        next batch is still handled, as it was then."""
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("batch failed", group=self.name, error=repr(error), exc_info=error)

    def stall(self) -> dict[str, Any] | None:
        """What `/readyz` says of this group when it is stalled, else None."""
        if not self.watch.stalled:
            return None
        return {
            "group": self.name,
            "topics": list(self.topics),
            "records_waiting": self.watch.waiting,
            "seconds_without_progress": round(self.watch.seconds_without_progress(), 1),
            "reason": self.consumer.last_error
            or "no batch in hand and no error: records wait on the broker but are not fetched",
        }


class ServiceRuntime:
    def __init__(
        self, settings: ServiceSettings, *, migrations: Path, version: str | None = None
    ) -> None:
        self.settings = settings
        self.name = settings.service_name
        self.migrations = migrations
        oidc = OidcConfig.from_settings(settings)
        self.tokens = load_tokens(
            settings.auth_tokens, env=settings.env, identity_provider=oidc is not None
        )
        # After the token check, whose refusal speaks first (secrets.py).
        refuse_dev_defaults(settings, is_development=settings.development_stack)
        field_crypto.configure_from_settings(settings)
        self.auth = TokenAuth(self.tokens, TokenVerifier(oidc) if oidc else None)
        self.broker = KafkaBroker(
            # FastStream takes a string as one address: "a:9092,b:9092" must be split (aiokafka
            # itself splits it), or a cluster's consumers could reach none of its brokers.
            [host.strip() for host in settings.kafka_bootstrap_servers.split(",") if host.strip()],
            client_id=self.name,
            security=kafka_security.security(settings),
            # Nothing is published through FastStream's own producer (the outbox relay and the
            # dead letters use `self.producer`); should anything be, it waits for every in-sync
            # replica as they do, and never writes a retried record twice.
            acks="all",
            enable_idempotence=True,
            middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY, app_name=self.name)],
            # FastStream's "Received" and "Processed" lines for every batch of every consumer,
            # as DEBUG: at INFO they were two plain-text lines a batch (metrics wrote 32,000 in
            # one 20-second bench run at 1,000 events/s, issue 22). A handler's failure is
            # still logged at ERROR.
            log_level=logging.DEBUG,
        )
        version = version or RELEASE
        self.asyncapi = AsyncAPI(self.broker, title=f"{self.name} service", version=version)
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.dead_letter_producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[ReliableConsumer] = []
        self._groups: list[_Group] = []
        self.background = Background(self.name)  # the service's own jobs and hooks
        self._own = Background(self.name)  # the runtime's: relay, lag, access watch, re-seal
        self._readiness_checks: dict[str, Callable[[], Awaitable[bool]]] = {}
        self._sealed: list[SealedColumns | SealedBy] = []
        # group -> {replaced group: its topic}, taken over before the consumers start
        self._handovers: dict[str, dict[str, str]] = {}
        self._inbox_purger: inbox_retention.Purger | None = None  # made at its first pass

    # --- wiring --------------------------------------------------------------------

    def consume(
        self,
        *topics: str,
        handler_name: str,
        handle: EventHandler,
        max_records: int | None = None,
        handle_batch: BatchEventHandler | None = None,
        acts_on: Callable[[CloudEvent[Any]], bool] | None = None,
        replaces: Mapping[str, str] | None = None,
        fetch_wait_ms: int = 0,
    ) -> None:
        """Run `handle(conn, event)` for every valid event on `topics`, reliably (of those
        `acts_on` accepts, when given: the others are validated and counted only). With
        `handle_batch`, each batch's new events go to it in one call instead (same transaction,
        same guarantees; a failing batch is retried one event at a time to find the culprit).
        A batch holds up to `max_records` events (default: the `consumer_max_records` setting,
        2000): while a backlog is worked off, bigger batches
        spread each batch's fixed cost (inbox, lookups, commit, wake-ups) thinner. Measured
        against 500: follow-up 5,916 -> 8,045 events/s, notifications 3,964 -> 6,838.

        `replaces` (handler name -> topic) names the consumers of a release before that this
        one took the place of, one per topic: their inbox rows stay this consumer's, and the
        group starts from their groups' committed offsets (group_handover.py).

        `fetch_wait_ms` (0: not) is for a consumer whose events may wait that long: the broker
        holds each fetch until it has FETCH_MIN_BYTES for it or that time has passed. A busy
        topic is then fetched a few times a second, not once or twice for every record or two
        (complaints' merges on the registrations, at 1,000 events/s: issue 22)."""
        group_id = f"{self.settings.consumer_group}.{handler_name}"
        consumer = self._reliable_consumer(handler_name, handle, handle_batch)
        consumer.acts_on = acts_on
        # A batch smaller than this is a steady stream's, not a backlog's: not split by
        # partition (`consumer_concurrency`), as it is not followed by the linger wait either.
        consumer.split_from = min(
            self.settings.consumer_linger_records, max_records or self.settings.consumer_max_records
        )
        if replaces:
            consumer.inbox_names = {topic: name for name, topic in replaces.items()}
            self._handovers[group_id] = {
                f"{self.settings.consumer_group}.{name}": topic for name, topic in replaces.items()
            }
        self.consumers.append(consumer)
        watch = ProgressWatch(self.settings.consumer_stall_after_s)
        committer = OffsetCommitter(self.settings.consumer_commit_interval_ms / 1000)
        group = _Group(group_id, topics, consumer, _AssignmentTracker(committer), watch, committer)
        self._groups.append(group)
        _zero_consumer_metrics(self.name, group_id, topics)
        group.subscriber = self._subscribe(group, handler_name, max_records, fetch_wait_ms)

    def _reliable_consumer(
        self, handler_name: str, handle: EventHandler, handle_batch: BatchEventHandler | None
    ) -> ReliableConsumer:
        """The consumer behind one `consume`: its pool is set at start; dead letters go out
        through the runtime's dead-letter producer."""

        async def dead_letter(
            topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
        ) -> None:
            producer = self.dead_letter_producer
            assert producer is not None
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)

        return ReliableConsumer(
            service=self.name,
            handler_name=handler_name,
            handle=failing_handler(handle, batch=False),
            handle_batch=failing_handler(handle_batch, batch=True) if handle_batch else None,
            pool=None,  # type: ignore[arg-type]  # set at start
            dead_letter=dead_letter,
            max_attempts=self.settings.max_handler_attempts,
            initial_backoff_s=self.settings.retry_initial_backoff_s,
            max_backoff_s=self.settings.retry_max_backoff_s,
            concurrency=self.settings.consumer_concurrency,
            dead_letter_prefix_bytes=self.settings.dead_letter_prefix_bytes,
        )

    def _subscribe(
        self, group: _Group, handler_name: str, max_records: int | None, fetch_wait_ms: int
    ) -> Any:
        """The broker's batch subscriber of `group`: raw records in, offsets committed by hand
        once the consumer has processed a batch."""
        batch_max = max_records or self.settings.consumer_max_records
        subscriber = self._batch_subscriber(group, handler_name, batch_max, fetch_wait_ms)
        context = self.broker.context
        decode_ahead = self.settings.consumer_decode_ahead

        @subscriber
        async def on_batch(records: Any) -> None:
            # The message (whose `ack` commits the offsets) from FastStream's context, not as a
            # parameter `message: KafkaMessage`: fast_depends resolves such a parameter in a
            # worker thread, a thread hop for every batch (4.5% of complaints' samples at 1,000
            # events/s). Not returned by the decoder beside the records either: the message
            # caches what its decoder returns, and that cycle kept every batch until the
            # garbage collector's next full pass (notifications' peak RSS +13 MB).
            message: KafkaMessage = context.get_local("message")
            epoch = group.committer.epoch
            if decode_ahead and not group.stopping:  # beside the batch in the database
                received = await group.consumer.decode_ahead(records)
            else:
                received = [group.consumer.decode(r) for r in records]
            group.ahead = dict(collections.Counter(r.topic for r in records))
            await group.wait_in_flight()
            group.ahead = {}
            if group.abandoned:
                return  # a stop cancelled the batch before: fetched again at the next start
            task = group.start_batch(
                _process_and_commit(group, records, received, message, epoch), message
            )
            if not decode_ahead or group.stopping:
                await asyncio.wait([task])  # else the next batch is fetched and decoded meanwhile
            pause = linger_after(len(records), batch_max, self.settings)
            if pause and not await records_waiting(
                message.consumer, self.settings.consumer_linger_records
            ):
                await asyncio.sleep(pause)  # the next batch is fetched after it

        return subscriber

    def _batch_subscriber(
        self, group: _Group, handler_name: str, batch_max: int, fetch_wait_ms: int
    ) -> Any:
        """FastStream's batch subscriber of `group`'s topics, its records undecoded, its
        offsets left to `_process_and_commit`."""

        async def raw_records(msg: Any) -> Any:
            return msg.raw_message

        return self.broker.subscriber(
            *group.topics,
            # aiokafka's defaults (1 byte, 500 ms) unless the consumer's events may wait
            fetch_min_bytes=FETCH_MIN_BYTES if fetch_wait_ms else 1,
            fetch_max_wait_ms=fetch_wait_ms or 500,
            group_id=group.name,
            batch=True,
            max_records=batch_max,
            batch_timeout_ms=self.settings.consumer_poll_ms,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=self.settings.consumer_partition_fetch_bytes,
            fetch_max_bytes=self.settings.consumer_fetch_max_bytes,
            ack_policy=AckPolicy.MANUAL,
            listener=group.tracker,
            decoder=raw_records,
            title=f"{self.name}.{handler_name}",
            description=_consumed_types(group.topics),
        )

    def publishes(self, *event_types: str) -> None:
        """Document in AsyncAPI the event types this service publishes through its outbox: one
        publisher entry per CloudEvents type, on its topic, with its payload schema."""
        for name in event_types:
            event_type = EVENT_TYPES[name]
            self.broker.publisher(
                event_type.topic,
                title=f"{event_type.topic}:{event_type.type}",
                description=f"CloudEvents type `{event_type.type}`, key = patient id, "
                "published through the transactional outbox",
                schema=CloudEvent[event_type.model],  # type: ignore[name-defined]
            )

    def seals(self, table: str, *columns: str, hashes: dict[str, str] | None = None) -> None:
        """Declare columns the service writes sealed (field_crypto): the re-seal job moves
        their values written before encryption or under an earlier key to the current one,
        and fills the keyed hashes (`hashes`: hash column -> sealed column) rows lack."""
        self._sealed.append(SealedColumns(table, columns, tuple((hashes or {}).items())))

    def reseals(
        self, table: str, batch: Callable[[asyncpg.Connection, int], Awaitable[int]]
    ) -> None:
        """Declare a table whose sealed values `batch(conn, batch_size)` moves to the current
        key (values inside JSON, an append-only table's): run by the same re-seal job."""
        self._sealed.append(SealedBy(table, batch))

    # --- background work (hospital_shared.background) -------------------------------

    def on_start(self, hook: Hook) -> Hook:
        """Run `hook()` once the pool, migrations, producers and consumers are up."""
        return self.background.on_start(hook)

    def on_stop(self, hook: Hook) -> Hook:
        """Run `hook()` at shutdown, after the service's jobs are stopped (reverse order)."""
        return self.background.on_stop(hook)

    def every(
        self, interval_s: float, name: str, job: Callable[[], Awaitable[int]], *, again_if: int = 0
    ) -> None:
        self.background.every(interval_s, name, job, again_if=again_if)

    def loop(
        self,
        name: str,
        one_pass: Callable[[], Awaitable[int]],
        *,
        interval_s: float,
        wake_on: Channel | None = None,
    ) -> Loop:
        return self.background.loop(name, one_pass, interval_s=interval_s, wake_on=wake_on)

    def run(
        self,
        name: str,
        work: Callable[[], Any],
        *,
        healthy: Callable[[], bool] | None = None,
        wake_on: Channel | None = None,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.background.run(name, work, healthy=healthy, wake_on=wake_on, wake=wake)

    def failing_jobs(self) -> list[str]:
        """Background jobs (the runtime's and the service's) that ended or are failing."""
        return [*self._own.not_running(), *self.background.not_running()]

    def add_readiness_check(self, name: str, check: Callable[[], Awaitable[bool]]) -> None:
        """Add a service-specific check to `/readyz` (e.g. a dispatcher loop): `check()` is
        awaited with a 2 s timeout; False, an exception or the timeout make it not ready."""
        self._readiness_checks[name] = check

    # --- lifecycle -----------------------------------------------------------------

    def make_producer(self) -> AIOKafkaProducer:
        """The producer of the outbox relay. acks=all: a record counts
        as written once every in-sync replica has it (with the topics' min.insync.replicas=2 on
        a three-broker cluster, losing the leader loses nothing); idempotent: a send retried
        after a lost answer (the leader's broker killed) is not written twice."""
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            **kafka_security.client_options(self.settings),
            client_id=f"{self.name}-outbox",
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            # A relay pass (500 events, ~300 KB) fills a few batches, not twenty 16 KB ones.
            max_batch_size=256 * 1024,
        )

    async def start(self) -> None:
        configure_logging(
            service=self.name,
            level=self.settings.log_level,
            repeat_window_s=self.settings.log_repeat_window_s,
        )
        self.pool = await self._connect_with_retry()
        async with self.pool.acquire() as conn:
            applied = await db.migrate(
                conn,
                schema=self.settings.db_schema,
                folders={"shared": db.SHARED_MIGRATIONS, self.name: self.migrations},
            )
            await field_crypto.check_hash_key(conn)
        if applied:
            log.info("migrations applied", migrations=applied)
        for consumer in self.consumers:
            consumer.pool = self.pool
        await self._start_producers()
        self.relay = OutboxRelay(
            self.pool,
            self._publish_batch,
            service=self.name,
            batch_size=self.settings.outbox_batch_size,
            poll_interval_s=self.settings.outbox_poll_interval_s,
            keep_published_s=self.settings.outbox_keep_published_s,
        )
        await self._start_own_jobs(self.relay)
        for group_id, replaced in self._handovers.items():
            await group_handover.take_over(
                self.settings.kafka_bootstrap_servers,
                group_id,
                replaced,
                client_id=self.name,
                options=kafka_security.client_options(self.settings),
            )
        await self.broker.start()
        await self.background.start(self.pool)
        gc.freeze()  # what start-up built lives as long as the process (see settle_heap)
        log.info("service started", http_port=self.settings.http_port)

    async def _start_own_jobs(self, relay: OutboxRelay) -> None:
        """The outbox relay, the lag measurement, the access records' retention purge and
        unusual-access rule (access_watch.py), the inbox's retention (inbox_retention.py)
        and, when columns are sealed, the re-seal."""
        pool, settings, batch = self.pool, self.settings, self.settings.data_reseal_batch_size
        assert pool is not None
        own = self._own = Background(self.name)
        own.run("outbox-relay", relay.run, healthy=lambda: relay.healthy)
        own.run("consumer-lag", self._measure_lag)

        async def watch() -> int:
            return len(await access_watch.watch_once(pool, settings, service=self.name))

        own.every(settings.access_watch_interval_s, "access-watch", watch)
        if settings.inbox_purge_interval_s and self._groups:
            own.every(settings.inbox_purge_interval_s, "inbox-purge", self._purge_inbox)
        if self._sealed and settings.data_encryption_enabled:

            async def reseal() -> int:
                return await reseal_all(pool, self._sealed, service=self.name, batch_size=batch)

            own.every(settings.data_reseal_interval_s, "reseal", reseal, again_if=batch)
        await own.start(pool)

    async def _purge_inbox(self) -> int:
        """One pass of the inbox's retention (inbox_retention.py) over the topics this service
        consumes (rows of a topic it no longer consumes stay: delete them by hand)."""
        assert self.pool is not None
        settings = self.settings
        if self._inbox_purger is None:
            self._inbox_purger = inbox_retention.Purger(
                service=self.name,
                extra=timedelta(days=settings.inbox_keep_extra_days),
                least=timedelta(days=settings.inbox_keep_min_days),
            )
        topics = {t for group in self._groups for t in group.topics}
        try:
            retention = await inbox_retention.describe_topics(
                settings.kafka_bootstrap_servers, topics, kafka_security.client_options(settings)
            )
        except KafkaError as exc:  # the broker away for now: every row kept until next time
            log.warning("inbox retention: Kafka not reachable, nothing deleted", error=repr(exc))
            return 0
        deleted = await self._inbox_purger.purge(self.pool, retention, topics)
        return sum(deleted.values())

    def make_dead_letter_producer(self) -> AIOKafkaProducer:
        """The dead letters' producer: acks=all like the outbox's, but not idempotent. A record
        the broker refuses (over its `message.max.bytes`, or the .dlq topic's) still took a
        sequence number of an idempotent producer, and every later send to that partition
        then fails with OutOfOrderSequenceNumber for good (seen on Kafka 4.1 with aiokafka
        0.14): the dead letter's reference, on the same partition, never got through. Dead
        letters are sent one at a time and awaited, so they keep their order anyway; a retry
        may write one twice, which its offset headers tell apart."""
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            **kafka_security.client_options(self.settings),
            client_id=f"{self.name}-dead-letters",
            acks="all",
            enable_idempotence=False,
        )

    async def _start_producers(self) -> None:
        self.producer = self.make_producer()
        await self.producer.start()
        self.dead_letter_producer = self.make_dead_letter_producer()
        await self.dead_letter_producer.start()

    async def stop(self) -> None:
        """The service's jobs and `on_stop` hooks first (its SMS still being sent are
        recorded), then the consumers, then the runtime's own jobs, producers and pool."""
        await self.background.stop()
        for group in self._groups:
            group.stopping = True
        deadline = asyncio.get_running_loop().time() + STOP_SETTLE_S
        await asyncio.gather(*(group.settle_by(deadline) for group in self._groups))
        for group in self._groups:  # what they handled, before the consumers stop
            await group.committer.stop()
        await self.broker.stop()
        for group in self._groups:  # begun after the settle, not done in FastStream's grace
            if (task := group.in_flight) is not None and not task.done():
                task.cancel()
                await asyncio.wait([task])
        await self._own.stop()
        for producer in (self.producer, self.dead_letter_producer):
            if producer is not None:
                await producer.stop()
        if self.pool is not None:
            await self.pool.close()
        flush_repeated_logs()

    async def _connect_with_retry(self) -> asyncpg.Pool:
        delay = 0.2
        while True:
            try:
                return await db.create_pool(
                    self.settings.database_url,
                    schema=self.settings.db_schema,
                    min_size=self.settings.db_pool_min,
                    max_size=self.settings.db_pool_max,
                )
            except ssl.SSLCertVerificationError as exc:  # an OSError, but no retry cures it
                raise DatabaseCertificateRejected(
                    f"PostgreSQL's TLS certificate did not verify: {exc.verify_message}. "
                    "Check DATABASE_URL's host and its sslrootcert (the CA that signed it)."
                ) from exc
            except db.TRANSIENT_DB_ERRORS as exc:
                log.warning("database not reachable yet", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _publish_batch(self, records: Sequence[tuple[str, str | None, bytes]]) -> None:
        assert self.producer is not None
        await publish_records(self.producer, records)

    async def _measure_lag(self) -> None:
        """Every 5 s: `hospital_consumer_lag` per topic and group of this instance (a topic
        whose partitions moved to another instance drops out instead of keeping its last
        value), each group's progress (`hospital_consumer_stalled*`), and the summaries of
        repeated log lines."""
        reported: set[tuple[str, str]] = set()
        while True:
            await asyncio.sleep(5)
            now: dict[tuple[str, str], int] = {}
            for group in self._groups:
                lags = await _lag_by_topic(getattr(group.subscriber, "consumer", None))
                for topic, n in group.ahead.items():
                    lags[topic] = lags.get(topic, 0) + n
                for topic, lag in lags.items():
                    now[(topic, group.name)] = lag
                group.watch.lag_measured(sum(lags.values()))
                self._report_progress(group)
            for topic, group_name in reported - set(now):
                CONSUMER_LAG.remove(topic, group_name)
            for (topic, group_name), lag in now.items():
                CONSUMER_LAG.labels(topic, group_name).set(lag)
            reported = set(now)
            flush_repeated_logs()

    def _report_progress(self, group: _Group) -> None:
        CONSUMER_STALLED_SECONDS.labels(self.name, group.name).set(
            group.watch.seconds_without_progress()
        )
        CONSUMER_STALLED.labels(self.name, group.name).set(int(group.watch.stalled))

    # --- readiness -----------------------------------------------------------------

    async def readiness(self) -> dict[str, bool]:
        checks: dict[str, bool] = {}
        try:
            checks["broker"] = bool(await self.broker.ping(timeout=2.0))
        except Exception:
            checks["broker"] = False
        try:
            assert self.pool is not None
            async with asyncio.timeout(2.0), self.pool.acquire() as conn:
                checks["database"] = await conn.fetchval("SELECT 1") == 1
        except Exception:
            checks["database"] = False
        checks["consumers_assigned"] = all(g.tracker.joined for g in self._groups)
        checks["consumers_progressing"] = not self.stalled_consumers()
        checks["outbox_relay"] = self.relay is not None and self.relay.healthy
        checks["background_jobs"] = not self.failing_jobs()
        for name, check in self._readiness_checks.items():
            try:
                async with asyncio.timeout(2.0):
                    checks[name] = bool(await check())
            except Exception:
                checks[name] = False
        return checks

    def stalled_consumers(self) -> list[dict[str, Any]]:
        """The groups with records waiting and no progress for `consumer_stall_after_s`: which
        group, its topics, how many records wait, for how long, and the last error it retried
        on (the why)."""
        stalls = []
        for group in self._groups:
            self._report_progress(group)
            stall = group.stall()
            if stall is not None:
                stalls.append(stall)
        return stalls

    # --- HTTP ----------------------------------------------------------------------

    def http_app(self, *routers: APIRouter, title: str | None = None) -> FastAPI:
        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(
            title=title or f"{self.name} service",
            description=api_docs.description_of(self.name),
            version=RELEASE,
            lifespan=lifespan,
            max_body_size=self.settings.http_max_body_bytes,
            docs_url=None,  # served from the pinned package instead (api_docs)
            redoc_url=None,  # ReDoc comes only from a CDN
        )
        api_docs.install(app)
        app.include_router(health_router(self))
        app.include_router(access_watch.build_access_router(self.auth))
        app.include_router(whoami_router(self.auth))
        for router in routers:
            app.include_router(router)
        http_guard.install(app)
        app.add_middleware(PathSegments)  # an id with `/`: a 422 naming it, not a redirect
        app.state.runtime = self
        return app


async def _lag_by_topic(consumer: Any) -> dict[str, int]:
    """Records the broker holds that `consumer` (aiokafka) has not fetched yet, per topic of
    its assigned partitions (high-water mark - position)."""
    lags: dict[str, int] = {}
    if consumer is None:
        return lags
    for tp in consumer.assignment():
        with contextlib.suppress(Exception):
            high = consumer.highwater(tp)
            pos = await consumer.position(tp)
            if high is not None:
                lags[tp.topic] = lags.get(tp.topic, 0) + max(0, high - pos)
    return lags


def _zero_consumer_metrics(service: str, group_id: str, topics: Sequence[str]) -> None:
    """Every dead-letter count starts at 0, so that `increase()` (the EventsDeadLettered
    alert) sees the first dead letter of a topic, not only the later ones."""
    for topic in topics:
        for result in [*Rejection, DEAD_LETTER_LOST]:
            EVENTS_PROCESSED.labels(service, topic, result)
    CONSUMER_STALLED.labels(service, group_id).set(0)
    CONSUMER_STALLED_SECONDS.labels(service, group_id).set(0)


def _consumed_types(topics: Sequence[str]) -> str:
    names = sorted(t.type for t in EVENT_TYPES.values() if t.topic in topics)
    return (
        "Consumes CloudEvents (structured JSON) of types: "
        + ", ".join(f"`{n}`" for n in names)
        + ". Invalid events go to `<topic>.dlq` with the reason."
    )


async def records_waiting(consumer: Any, enough: int) -> bool:
    """Whether the broker held at least `enough` records of `consumer`'s partitions that it
    has not taken yet (high-water marks of the last fetches - positions). A small batch in a
    backlog (the rest of one partition's fetch) is followed by the next at once, not by the
    linger. (Session 19 took follow-up's drains at ~8,500 or ~11,200 events/s for this; they
    stayed so without the linger: the drain's clock and the machine's speed, docs/bench.md
    session 20.)"""
    waiting = 0
    try:
        async with asyncio.timeout(0.05):  # a position being reset is looked up: not waited for
            for tp in consumer.assignment():
                high = consumer.highwater(tp)
                if high is None:
                    continue
                waiting += max(0, high - await consumer.position(tp))
                if waiting >= enough:
                    return True
    except Exception:  # a rebalance under way, a position unknown: linger as before
        return False
    return False


async def _process_and_commit(
    group: _Group,
    batch: Sequence[ConsumerRecord[Any, Any]],
    received: list[Received],
    message: Any,
    epoch: int,
) -> None:
    """One batch through `group`'s consumer; its offsets committed now or with a later batch
    (offset_commits.py), at once when it sent a dead letter. `epoch`: the committer's when
    the batch was fetched; a batch fetched before a rebalance that took place while the one
    before it was handled is left alone: its records are fetched again, from the offsets
    committed, by whoever holds their partitions now."""
    consumer, watch, committer = group.consumer, group.watch, group.committer
    if epoch != committer.epoch or group.abandoned:
        return
    watch.batch_started(len(batch))
    handled = False
    dead_letters = consumer.dead_letters
    try:
        await consumer.process_decoded(received)
        handled = True
    finally:
        watch.batch_finished(committed=handled)
    at_once = consumer.dead_letters > dead_letters
    await committer.handled(message.consumer, batch, at_once=at_once, epoch=epoch)


# What the broker gathers for a fetch of a consumer with `fetch_wait_ms` before it answers
# (or that wait has passed): at 1,000 events/s ~400 registrations a second, about 0.15 s of them.
FETCH_MIN_BYTES = 64 * 1024


def linger_after(batch_size: int, batch_max: int, settings: ServiceSettings) -> float:
    """Seconds a consumer waits after handling a batch of `batch_size` records before it takes
    the next: `consumer_linger_ms` after a small batch (settings.py), none after a big one,
    nor after a full one (`batch_max`), whatever the two settings: a backlog never waits."""
    if batch_size >= min(settings.consumer_linger_records, batch_max):
        return 0.0
    return settings.consumer_linger_ms / 1000


def without_value(value: Any) -> contextvars.Context:
    """A copy of the current context in which no variable holds `value` (set to None).

    FastStream keeps the message being handled (the batch's records, their bodies and
    headers) in a context variable, and whatever a batch's handling starts that outlives it
    copies the context it was started in: a database connection the pool opens then (its
    reader callback), a task, a timer. Each such context kept its whole batch alive for as
    long as it lived: 7-12 batches of 1,000 records in a notifications drain (gc's referrers
    of the records, issue 22). The batch is handled in this copy instead, so what it starts
    keeps no batch: notifications' peak RSS over a 58,854-event drain 147.7 -> 130.1 MB."""
    ctx = contextvars.copy_context()
    for var, held in list(ctx.items()):
        if held is value:
            ctx.run(var.set, None)
    return ctx


def settle_heap() -> None:
    """Keep the garbage collector off the hot path. A batch of 500 events allocates some
    100,000 objects that die with it; at CPython's default thresholds the collector runs every
    700 allocations, and its full passes walk every module, model and cache loaded at start.
    Frozen, those are never walked again; larger thresholds make young passes rare. Measured:
    about 15% less CPU per event ingested by registration, a third less in the notifications
    consumer. `ServiceRuntime.start` freezes again once the connections are up."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run the service's HTTP app (and with it, its consumers and relay) until stopped; a
    signal stops it during start-up too (hospital_shared.serving)."""
    settle_heap()
    serving.run(app, host=settings.http_host, port=settings.http_port)
