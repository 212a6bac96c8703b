"""Micro-bench of the consumers' codec (hospital_shared.codec.decode): µs per event for the
two-step decoding (parse to Python objects, then validate them: what `decode` did before
session 14) and for `decode` as it is (the event's bytes validated in one pass when its type
can be read from them), on 20,000 events as the platform writes them on the wire: the example
of every event type with one (`hospital_shared.schemas.example_event`), in turn, each with its
own id, decoded with the topic the consumer reads them from.

    uv run python bench/codec_micro.py [--n 20000] [--out bench/codec_results.json]

Each figure is the median of 15 rounds over every event (min and max kept), the two ways'
rounds alternating, so that this shared machine's drift shows as spread rather than as the
result; the load average is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic

from hospital_shared import codec
from hospital_shared.events import EVENT_TYPES, CloudEvent
from hospital_shared.schemas import example_event

ROUNDS = 15


def recorded_events(n: int) -> list[tuple[bytes, str]]:
    """`n` events as bytes with their topic, the examples in turn, each with its own id."""
    examples = []
    for type_, event_type in EVENT_TYPES.items():
        try:
            event = example_event(type_)
        except KeyError:  # a service's own event type without an example
            continue
        examples.append((event, event_type.topic))
    return [
        (codec.encode(event.model_copy(update={"id": f"bench-{i}"})), topic)
        for i, (event, topic) in ((i, examples[i % len(examples)]) for i in range(n))
    ]


def two_step(raw: bytes, topic: str) -> CloudEvent[Any]:
    """The decoding before session 14: parsed, then the Python objects validated."""
    return codec._validated(codec._json(raw), raw, topic)


def one_pass(raw: bytes, topic: str) -> CloudEvent[Any]:
    return codec.decode(raw, expected_topic=topic)


def per_event_us(
    decoders: dict[str, Callable[[bytes, str], object]], events: list[tuple[bytes, str]]
) -> dict[str, dict[str, float]]:
    """Each decoder's µs per event over `events`; their rounds alternate, so that both see
    the same drift of the machine's load."""
    rounds: dict[str, list[float]] = {name: [] for name in decoders}
    for _ in range(ROUNDS):
        for name, decoder in decoders.items():
            start = time.perf_counter()
            for raw, topic in events:
                decoder(raw, topic)
            rounds[name].append((time.perf_counter() - start) / len(events) * 1e6)
    return {
        name: {
            "median_us": round(statistics.median(times), 2),
            "min_us": round(min(times), 2),
            "max_us": round(max(times), 2),
        }
        for name, times in rounds.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("bench/codec_results.json"))
    args = parser.parse_args()
    events = recorded_events(args.n)
    assert all(two_step(raw, t) == one_pass(raw, t) for raw, t in events)  # the same events
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": platform.python_version(),
        "pydantic": pydantic.VERSION,
        "events": len(events),
        "mean_event_bytes": round(sum(len(raw) for raw, _ in events) / len(events)),
        "load_average_before": os.getloadavg(),
        **per_event_us(
            {"two_step_parse_then_validate": two_step, "decode_one_pass": one_pass}, events
        ),
        "load_average_after": os.getloadavg(),
    }
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
