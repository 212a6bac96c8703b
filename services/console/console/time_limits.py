"""How a complaint's time limits look on a screen: each running limit as a countdown that turns
to the warning colour past its warning point (80% of its span) and to the breach colour past
its due time. Pure: the server renders the first state, `static/countdown.js` keeps it live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hospital_shared.time_limits import running_state
from hospital_shared.vocabulary import LimitState

RUNNING = frozenset(LimitState)


@dataclass(frozen=True)
class Countdown:
    limit: str
    due_at: datetime
    warn_at: datetime
    state: str  # running | warning | breached (now), or the settled outcome
    seconds_left: int  # negative once past due

    @property
    def running(self) -> bool:
        return self.state in RUNNING


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def countdown(limit: dict[str, Any], now: datetime) -> Countdown:
    """One limit of a case as the complaints service gives it (`time_limits[]`), at `now`."""
    due, warn = _instant(limit["due_at"]), _instant(limit["warn_at"])
    state = limit["state"]
    if state in RUNNING:
        state = running_state(warn_at=warn, due_at=due, now=now)
    return Countdown(limit["limit"], due, warn, state, int((due - now).total_seconds()))


def countdowns(case: dict[str, Any], now: datetime) -> list[Countdown]:
    return [countdown(limit, now) for limit in case.get("time_limits") or []]


def remaining_text(seconds: int, lang: str) -> str:
    """`2天3小时` / `2d 3h` left, or as much overdue (the same words `countdown.js` writes)."""
    left = abs(seconds)
    days, hours, minutes = left // 86400, left % 86400 // 3600, left % 3600 // 60
    if lang == "zh":
        parts = [f"{days}天" if days else "", f"{hours}小时" if hours else "", f"{minutes}分"]
        text = "".join(p for p in parts[:2] if p) if days else "".join(p for p in parts[1:] if p)
        return ("超时" if seconds < 0 else "剩余") + (text or "0分")
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m"]
    text = " ".join(p for p in parts[:2] if p) if days else " ".join(p for p in parts[1:] if p)
    return (text or "0m") + (" overdue" if seconds < 0 else " left")


def worst_state(items: list[Countdown]) -> str | None:
    """The case's colour in the queue: breached before warning before running."""
    states = {c.state for c in items if c.running}
    order = (LimitState.BREACHED, LimitState.WARNING, LimitState.RUNNING)
    return next((s for s in order if s in states), None)
