"""Registration queue reports in the metrics service: each report moves its queue's state
through the episode rule (`queue_episodes`, pure) inside the consumer's transaction, records
the episodes, counts them, and publishes `queue.episode_opened` / `queue.episode_closed`
through the outbox for the notifications service (which tells the supervisor once per
episode). The queue's row is locked while a report is applied, and written with the inbox
row: a redelivered report changes nothing, and a restart neither forgets an open episode nor
opens it again.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from hospital_shared import topics
from hospital_shared.events import QueueReported, make_event
from hospital_shared.outbox import add_to_outbox
from hospital_shared.service_events.metrics import QueueEpisodeClosed, QueueEpisodeOpened
from metrics import catalog
from metrics.domain import label
from metrics.queue_episodes import ClosedEpisode, Episode, QueueRules, QueueState, apply_report
from metrics.received import Received

SOURCE = "urn:hospital:metrics"


def rules_of(e: Received[QueueReported]) -> QueueRules:
    return QueueRules(e.settings.queue_alert_above, e.settings.queue_clear_at)


async def _load(conn: asyncpg.Connection, queue_id: str) -> QueueState:
    row = await conn.fetchrow("SELECT * FROM queues WHERE queue_id = $1 FOR UPDATE", queue_id)
    if row is None:
        return QueueState()
    episode = None
    if row["episode_id"] is not None:
        episode = Episode(
            row["episode_id"],
            row["episode_opened_at"],
            row["episode_opening"],
            row["episode_max_length"],
        )
    return QueueState(row["length"], row["reported_at"], episode)


async def _save(
    conn: asyncpg.Connection, queue_id: str, e: Received[QueueReported], state: QueueState
) -> None:
    ep = state.episode
    await conn.execute(
        "INSERT INTO queues (queue_id, department, queue_name, length, reported_at, episode_id,"
        " episode_opened_at, episode_opening, episode_max_length)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (queue_id) DO UPDATE SET"
        " department = EXCLUDED.department, queue_name = EXCLUDED.queue_name,"
        " length = EXCLUDED.length, reported_at = EXCLUDED.reported_at,"
        " episode_id = EXCLUDED.episode_id, episode_opened_at = EXCLUDED.episode_opened_at,"
        " episode_opening = EXCLUDED.episode_opening,"
        " episode_max_length = EXCLUDED.episode_max_length",
        queue_id, label(e.contract.department_code), e.contract.queue_name, state.length,
        state.reported_at, ep and ep.episode_id, ep and ep.opened_at, ep and ep.opening_length,
        ep and ep.max_length,
    )  # fmt: skip


def _episode_fields(e: Received[QueueReported], episode: Episode, queue_id: str) -> dict[str, Any]:
    return {
        "episode_id": episode.episode_id,
        "queue_id": queue_id,
        "department_code": e.contract.department_code,
        "queue_name": e.contract.queue_name,
        "limit": e.settings.queue_alert_above,
        "opened_at": episode.opened_at,
        "max_length": episode.max_length,
    }


async def _opened(
    conn: asyncpg.Connection, e: Received[QueueReported], queue_id: str, ep: Episode
) -> None:
    fresh = await conn.fetchval(
        "INSERT INTO queue_episodes (episode_id, queue_id, department, alert_above, opened_at,"
        " opening_length, max_length) VALUES ($1, $2, $3, $4, $5, $6, $6)"
        " ON CONFLICT DO NOTHING RETURNING episode_id",
        ep.episode_id, queue_id, label(e.contract.department_code),
        e.settings.queue_alert_above, ep.opened_at, ep.opening_length,
    )  # fmt: skip
    if fresh is None:
        return
    labels = {"department": label(e.contract.department_code), "queue": label(queue_id)}
    e.tally.add(catalog.QUEUE_EPISODES, labels)
    data = QueueEpisodeOpened(**_episode_fields(e, ep, queue_id), length=ep.opening_length)
    await _publish(conn, "queue.episode_opened", data, queue_id, ep.opened_at, ep.episode_id)


async def _closed(
    conn: asyncpg.Connection, e: Received[QueueReported], queue_id: str, c: ClosedEpisode
) -> None:
    await conn.execute(
        "UPDATE queue_episodes SET max_length = $2, closed_at = $3, closing_length = $4,"
        " duration_s = $5 WHERE episode_id = $1",
        c.episode.episode_id, c.episode.max_length, c.closed_at, c.closing_length, c.duration_s,
    )  # fmt: skip
    data = QueueEpisodeClosed(
        **_episode_fields(e, c.episode, queue_id),
        closed_at=c.closed_at,
        duration_s=c.duration_s,
        length=c.closing_length,
    )
    await _publish(conn, "queue.episode_closed", data, queue_id, c.closed_at, c.episode.episode_id)


async def _publish(
    conn: asyncpg.Connection, type_: str, data: Any, queue_id: str, at: Any, episode_id: str
) -> None:
    what = type_.removeprefix("queue.episode_")
    event = make_event(
        type_, data, source=SOURCE, subject=queue_id, time=at, event_id=f"{episode_id}:{what}"
    )
    await add_to_outbox(conn, event, topic=topics.QUEUE_EPISODES, key=queue_id)


async def on_queue_reported(conn: asyncpg.Connection, e: Received[QueueReported]) -> None:
    report = e.contract
    queue_id = report.queue_id
    state = await _load(conn, queue_id)
    step = apply_report(
        state,
        queue_id=queue_id,
        length=report.length,
        at=report.reported_at,
        rules=rules_of(e),
    )
    if step.stale:
        return
    await _save(conn, queue_id, e, step.state)
    if step.closed is not None:
        await _closed(conn, e, queue_id, step.closed)
    if step.opened is not None:
        await _opened(conn, e, queue_id, step.opened)
    elif step.state.episode is not None:
        await conn.execute(
            "UPDATE queue_episodes SET max_length = $2 WHERE episode_id = $1",
            step.state.episode.episode_id,
            step.state.episode.max_length,
        )


async def queue_gauges(conn: asyncpg.Connection) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The live length and over-limit flag of every queue, from its last report."""
    rows = await conn.fetch("SELECT queue_id, department, length, episode_id FROM queues")
    labels = [({"department": r["department"], "queue": label(r["queue_id"])}, r) for r in rows]
    return {
        catalog.QUEUE_LENGTH.name: [(lb, float(r["length"])) for lb, r in labels],
        catalog.QUEUE_OVER_LIMIT.name: [(lb, 1.0 if r["episode_id"] else 0.0) for lb, r in labels],
    }
