"""Moving a complaint category rule before or after its neighbour (pure). The complaints
service tries the rules by `position`, then by id; many share a position (the defaults are
seeded in tens, a new rule gets 100), so swapping two positions does not always swap two
rules (and may pass a third of the same position). The list is numbered again in tens, in its
new order; only the positions that change are sent (after the first move, two)."""

from __future__ import annotations

from typing import Any

STEP = 10


def moved(rules: list[dict[str, Any]], rule_id: int, by: int) -> dict[int, int]:
    """The new positions (rule id -> position) that move `rule_id` one place (`by` -1: tried
    earlier, +1: later) in `rules`; nothing when it is already first or last."""
    ordered = sorted(rules, key=lambda r: (r["position"], r["id"]))
    at = next(i for i, r in enumerate(ordered) if r["id"] == rule_id)
    to = at + by
    if not 0 <= to < len(ordered):
        return {}
    ordered[at], ordered[to] = ordered[to], ordered[at]
    numbered = {r["id"]: (n + 1) * STEP for n, r in enumerate(ordered)}
    return {i: p for i, p in numbered.items() if p != _position(rules, i)}


def _position(rules: list[dict[str, Any]], rule_id: int) -> int:
    return int(next(r["position"] for r in rules if r["id"] == rule_id))
