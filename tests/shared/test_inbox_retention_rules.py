"""How long an inbox row is needed, from what Kafka says of its topic (inbox_retention.py)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from hospital_shared.inbox_retention import TopicRetention, parse_describe_configs

DAY_MS = 86_400_000
EXTRA = timedelta(days=1)


def entries(**configs: str | None) -> list[tuple[str, str | None, bool, int, bool, list[object]]]:
    """DescribeConfigs entries (v1: name, value, read-only, source, sensitive, synonyms)."""
    return [(name.replace("_", "."), value, False, 5, False, []) for name, value in configs.items()]


def response(*resources: tuple[int, str, list[object]]) -> SimpleNamespace:
    return SimpleNamespace(resources=[(code, None, 2, name, e) for code, name, e in resources])


def test_a_deleted_topic_keeps_rows_for_its_retention_and_one_segment_more() -> None:
    weekly = TopicRetention("delete", retention_ms=7 * DAY_MS, segment_ms=7 * DAY_MS)
    assert weekly.inbox_keep(EXTRA) == timedelta(days=15)
    hourly = TopicRetention("delete", retention_ms=3_600_000, segment_ms=600_000)
    assert hourly.inbox_keep(timedelta(0)) == timedelta(minutes=70)


@pytest.mark.parametrize(
    "retention",
    [
        TopicRetention("delete", retention_ms=-1, segment_ms=DAY_MS),
        TopicRetention("compact", retention_ms=DAY_MS, segment_ms=DAY_MS),
        TopicRetention("compact,delete", retention_ms=DAY_MS, segment_ms=DAY_MS),
    ],
    ids=["retention -1", "compacted", "compacted and deleted"],
)
def test_a_topic_kafka_may_deliver_again_at_any_time_keeps_its_rows(
    retention: TopicRetention,
) -> None:
    assert retention.inbox_keep(EXTRA) is None


def test_described_topics_are_read_and_what_kafka_could_not_describe_is_left_out() -> None:
    known = entries(cleanup_policy="delete", retention_ms=str(DAY_MS), segment_ms="3600000")
    found = parse_describe_configs(
        [
            response(
                (0, "a.v1", known),
                (3, "missing.v1", []),  # UNKNOWN_TOPIC_OR_PARTITION
                (0, "partial.v1", entries(cleanup_policy="delete", retention_ms=str(DAY_MS))),
                (0, "no-value.v1", entries(cleanup_policy="delete", retention_ms=None, segment_ms="1")),
                (0, "garbled.v1", entries(cleanup_policy="delete", retention_ms="x", segment_ms="1")),
            ),
            response((0, "b.v1", entries(cleanup_policy="compact", retention_ms="-1", segment_ms="1"))),
        ]
    )  # fmt: skip
    assert found == {
        "a.v1": TopicRetention("delete", retention_ms=DAY_MS, segment_ms=3_600_000),
        "b.v1": TopicRetention("compact", retention_ms=-1, segment_ms=1),
    }
