"""The department directory's learner (follow-up `departments.Learner`): which codes a batch's
events name it writes, with a fake connection recording the statement's arrays."""

from __future__ import annotations

from typing import Any

from followup.departments import Learner


class Recording:
    def __init__(self) -> None:
        self.written: list[tuple[Any, ...]] = []

    async def execute(self, _sql: str, *args: Any) -> None:
        self.written.append(args)


async def test_a_seeded_code_is_never_named_by_an_event_and_a_known_one_costs_nothing() -> None:
    """On a new database with a backlog, a batch can be read before the seed has run: the
    seed's codes must keep the seed's names, not the first event's."""
    conn = Recording()
    learner = Learner(known={"CARD"})
    await learner.learn(conn, {"CARD": "测试科", "H1": "康复医学科", "A B": "怪科"})  # type: ignore[arg-type]
    assert conn.written == [(["H1"], ["康复医学科"])]
    await learner.learn(conn, {"H1": "康复科", "CARD": "心脏科"})  # type: ignore[arg-type]
    assert len(conn.written) == 1  # nothing new: no statement
