"""How long an inbox row is needed, from what Kafka says of its topic (inbox_retention.py)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from hospital_shared.inbox_retention import TopicRetention, parse_describe_configs

DAY_MS = 86_400_000
EXTRA = timedelta(days=1)


def entries(
    configs: dict[str, str | None] | None = None, **named: str | None
) -> list[tuple[str, str | None, bool, int, bool, list[object]]]:
    """DescribeConfigs entries (v1: name, value, read-only, source, sensitive, synonyms), from
    `configs` and from `named` (cleanup_policy= for cleanup.policy)."""
    values = {**(configs or {}), **{k.replace("_", "."): v for k, v in named.items()}}
    return [(name, value, False, 5, False, []) for name, value in values.items()]


def response(*resources: tuple[int, str, list[object]]) -> SimpleNamespace:
    return SimpleNamespace(resources=[(code, None, 2, name, e) for code, name, e in resources])


def test_a_deleted_topic_keeps_rows_for_its_retention_one_segment_and_the_timestamps_lead() -> None:
    weekly = TopicRetention("delete", retention_ms=7 * DAY_MS, segment_ms=7 * DAY_MS)
    assert weekly.inbox_keep(EXTRA) == timedelta(days=15)
    hourly = TopicRetention("delete", retention_ms=3_600_000, segment_ms=600_000)
    assert hourly.inbox_keep(timedelta(0)) == timedelta(minutes=70)
    # CreateTime: a producer's timestamp up to an hour ahead keeps its segment an hour longer
    ahead = TopicRetention("delete", 3_600_000, 600_000, timestamp_ahead_ms=3_600_000)
    assert ahead.inbox_keep(timedelta(0)) == timedelta(minutes=130)


def test_rows_are_kept_at_least_the_least_whatever_kafka_keeps() -> None:
    hourly = TopicRetention("delete", retention_ms=3_600_000, segment_ms=600_000)
    assert hourly.inbox_keep(EXTRA, least=timedelta(days=30)) == timedelta(days=30)
    monthly = TopicRetention("delete", retention_ms=40 * DAY_MS, segment_ms=DAY_MS)
    assert monthly.inbox_keep(EXTRA, least=timedelta(days=30)) == timedelta(days=42)


@pytest.mark.parametrize(
    "retention",
    [
        TopicRetention("delete", retention_ms=-1, segment_ms=DAY_MS),
        TopicRetention("compact", retention_ms=DAY_MS, segment_ms=DAY_MS),
        TopicRetention("compact,delete", retention_ms=DAY_MS, segment_ms=DAY_MS),
        TopicRetention("delete", retention_ms=2**63 - 1, segment_ms=DAY_MS),
        TopicRetention("delete", DAY_MS, DAY_MS, timestamp_ahead_ms=None),
        TopicRetention("delete", DAY_MS, DAY_MS, timestamp_ahead_ms=2**63 - 1),
    ],
    ids=[
        "retention -1",
        "compacted",
        "compacted and deleted",
        "retention Long.MAX_VALUE",
        "producers' timestamps unbounded",
        "producers' timestamps bounded by Long.MAX_VALUE",
    ],
)
def test_a_topic_kafka_may_deliver_again_at_any_time_keeps_its_rows(
    retention: TopicRetention,
) -> None:
    assert retention.inbox_keep(EXTRA) is None


def test_described_topics_are_read_and_what_kafka_could_not_describe_is_left_out() -> None:
    known: dict[str, str | None] = {
        "cleanup.policy": "delete",
        "retention.ms": str(DAY_MS),
        "segment.ms": "3600000",
    }
    appended = {
        **known,
        "message.timestamp.type": "LogAppendTime",
        "message.timestamp.after.max.ms": "9",
    }
    created = {
        **known,
        "message.timestamp.type": "CreateTime",
        "message.timestamp.after.max.ms": "7",
    }
    old_kafka = {
        **known,
        "message.timestamp.type": "CreateTime",
        "message.timestamp.difference.max.ms": "5",
    }
    found = parse_describe_configs(
        [
            response(
                (0, "a.v1", entries(known)),
                (0, "appended.v1", entries(appended)),
                (0, "created.v1", entries(created)),
                (0, "old-kafka.v1", entries(old_kafka)),
                (3, "missing.v1", []),  # UNKNOWN_TOPIC_OR_PARTITION
                (29, "denied.v1", []),  # TOPIC_AUTHORIZATION_FAILED
                (0, "partial.v1", entries(cleanup_policy="delete", retention_ms=str(DAY_MS))),
                (0, "no-value.v1", entries(cleanup_policy="delete", retention_ms=None, segment_ms="1")),
                (0, "garbled.v1", entries(cleanup_policy="delete", retention_ms="x", segment_ms="1")),
            ),
            response((0, "b.v1", entries(cleanup_policy="compact", retention_ms="-1", segment_ms="1"))),
        ]
    )  # fmt: skip
    assert found == {
        "a.v1": TopicRetention("delete", DAY_MS, 3_600_000, timestamp_ahead_ms=None),
        "appended.v1": TopicRetention("delete", DAY_MS, 3_600_000, timestamp_ahead_ms=0),
        "created.v1": TopicRetention("delete", DAY_MS, 3_600_000, timestamp_ahead_ms=7),
        "old-kafka.v1": TopicRetention("delete", DAY_MS, 3_600_000, timestamp_ahead_ms=5),
        "b.v1": TopicRetention("compact", retention_ms=-1, segment_ms=1, timestamp_ahead_ms=None),
    }
