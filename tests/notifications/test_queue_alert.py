"""A registration queue over its limit: one urgent note to the department's supervisor per
episode, whose text says the queue, its length and the limit."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hospital_shared.service_events.metrics import QueueEpisodeOpened
from notifications import policy
from notifications.policy import PlanningRules
from notifications.templates import DEFAULTS_BY_NAME, render

RULES = PlanningRules(tz=ZoneInfo("Asia/Shanghai"))
NOW = datetime(2026, 12, 7, 0, 45, tzinfo=UTC)


def opened(episode_id: str = "W3@2026-12-07T00:40:00+00:00", **over: object) -> QueueEpisodeOpened:
    fields: dict[str, object] = {
        "episode_id": episode_id, "queue_id": "W3", "department_code": "REG",
        "queue_name": "门诊挂号3号窗口", "limit": 8, "opened_at": datetime(2026, 12, 7, 0, 40, tzinfo=UTC),
        "max_length": 9, "length": 9,
    }  # fmt: skip
    return QueueEpisodeOpened.model_validate({**fields, **over})


def test_an_opened_episode_goes_to_the_departments_supervisor_keyed_by_the_episode() -> None:
    [note] = policy.plan_queue_episode(opened(), NOW, RULES).messages
    assert note.template == "staff_queue_over_limit"
    assert note.supervisor_of == "REG" and note.staff_id is None
    # ...or rather whoever the duty rota has on duty for its window when the queue went over
    assert (note.on_duty_window, note.on_duty_at) == (
        "W3",
        datetime(2026, 12, 7, 0, 40, tzinfo=UTC),
    )
    assert note.key == "queue-episode:W3@2026-12-07T00:40:00+00:00"
    # the same episode delivered again plans the same key: the message store keeps one
    [again] = policy.plan_queue_episode(opened(), NOW, RULES).messages
    assert again.key == note.key


def test_the_note_says_the_queue_its_length_and_the_limit_and_is_urgent() -> None:
    [note] = policy.plan_queue_episode(opened(), NOW, RULES).messages
    spec = DEFAULTS_BY_NAME["staff_queue_over_limit"]
    text = render(spec.body, note.context)
    assert text == "【挂号排队】门诊挂号3号窗口排队9人，已超过8人（12月07日 08:40起），请及时处理。"
    assert spec.urgent and spec.audience == "staff"


def test_a_queue_without_a_name_is_named_by_its_id() -> None:
    [note] = policy.plan_queue_episode(opened(queue_name=None), NOW, RULES).messages
    assert note.context["queue"] == "W3"
