"""Reading Prometheus text exposition in tests."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

SampleKey = tuple[str, frozenset[tuple[str, str]]]


def parse_metrics(text: str) -> dict[SampleKey, float]:
    out: dict[SampleKey, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def sample(parsed: Mapping[SampleKey, float], name: str, labels: Mapping[str, str]) -> float | None:
    return parsed.get((name, frozenset(labels.items())))
