"""Moving a complaint category rule before or after its neighbour (pure). The complaints
service tries the rules by `position`, then by id; many share a position (the defaults are
seeded in tens, a new rule gets 100), so swapping two positions does not always swap two
rules (and may pass a third of the same position). The move is the whole list's new order,
which the service's `PUT /v1/category-rules/order` numbers again in tens, all at once."""

from __future__ import annotations

from typing import Any


def moved(rules: list[dict[str, Any]], rule_id: int, by: int) -> list[int]:
    """Every rule's id in the order that moves `rule_id` one place (`by` -1: tried earlier,
    +1: later) in `rules`; nothing when it is already first or last."""
    ordered = [r["id"] for r in sorted(rules, key=lambda r: (r["position"], r["id"]))]
    at = ordered.index(rule_id)
    to = at + by
    if not 0 <= to < len(ordered):
        return []
    ordered[at], ordered[to] = ordered[to], ordered[at]
    return ordered
