from datetime import UTC, datetime, timedelta

from followup import outgoing
from followup.planning import PlannedCall
from hospital_shared import topics
from hospital_shared.codec import decode


def _call(parent: str | None) -> PlannedCall:
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    return PlannedCall(
        task_id="FU-OP-R-1", kind="outpatient_visit", rule="outpatient.first_visit.sampled_71%",
        patient_id="P-000123", patient_name="张三", patient_phone="+8613800138000",
        sms_opt_out=False, department_code="CARD", department_name="心内科",
        source_event_id="e-1", source_ref="R-1", not_before=at, due_at=at + timedelta(days=3),
        roles=("agent", "doctor"), max_attempts=3, parent_task_id=parent,
    )  # fmt: skip


def test_a_planned_row_carries_the_planned_event() -> None:
    # The consumer's batches queue `planned_row`'s bytes (encoded in one pass); they must be
    # the event `planned_event` builds, whatever the correlation and parent.
    time = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    for parent, correlation in ((None, "corr-1"), ("FU-A1", None)):
        call = _call(parent)
        event_id, topic, key, payload = outgoing.planned_row(
            call, time=time, correlation_id=correlation
        )
        event = outgoing.planned_event(call, time=time, correlation_id=correlation)
        assert (event_id, topic, key) == (event.id, topics.FOLLOWUP_TASKS, "P-000123")
        assert decode(payload, expected_topic=topics.FOLLOWUP_TASKS) == event


def test_a_later_life_never_takes_another_tasks_event_ids() -> None:
    """Admission `A` planned again (its second life) and admission `A:2` (an id from the HIS
    may hold `:`): their overdue events must not share an id, or the outbox drops one."""
    from followup.planning import inpatient_task_id

    second_life = outgoing.life_id(inpatient_task_id("A"), 2)
    first_of_other = outgoing.life_id(inpatient_task_id("A:2"), 1)
    assert f"{second_life}:overdue:1" != f"{first_of_other}:overdue:1"
    lives = {
        outgoing.life_id(inpatient_task_id(a), g)
        for a in ("A", "A:2", "2", "2:A")
        for g in (1, 2, 3)
    }
    assert len(lives) == 12
