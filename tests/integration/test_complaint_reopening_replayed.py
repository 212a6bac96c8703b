"""A complaint reopened by the patient's 不满意 at the satisfaction check (a survey answer by
link), read again after a restore from a backup taken before the answer: the restored case is
closed again and the answer reopens it again, and its events go out again. They had random
ids, so the next consumers took the second reopening for a new one (a second "reopened" SMS,
the reopening counted twice). Their ids are made from the case and the answer now: the same
ids, which those consumers' inboxes drop. The complaints service as a process on the real
Kafka and PostgreSQL, restored with devstack's backup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import backup
from tests.chaos.restore import forget_restores, restore_once_groups_empty
from tests.integration.services import running
from tests.integration.test_call_opt_outs_survive_restore import fetch_rows
from tests.integration.test_complaints_service import case_events, case_in
from tests.integration.test_survey_answers_consumed import answered
from tests.kafka_tools import eventually

pytestmark = pytest.mark.stack

DISSATISFIED = [
    {"question_id": "handling", "aspect": "complaint_handling", "satisfaction": "不满意"}
]
ANSWERED = ("complaint.satisfaction_recorded", "complaint.case_reopened")


async def _outbox_drained(env: dict[str, str]) -> bool:
    rows = await fetch_rows(
        env, "SELECT 1 FROM complaints.outbox WHERE published_at IS NULL LIMIT 1"
    )
    return not rows


async def _answered_events(bootstrap: str, number: str, times: int) -> list[Any] | None:
    """The case's events the answer caused, once each of `times` reopenings is out."""
    events = [e for e in await case_events(bootstrap, number) if e["type"] in ANSWERED]
    reopenings = [e for e in events if e["type"] == "complaint.case_reopened"]
    return events if len(reopenings) >= times else None


@pytest.mark.timeout(300)
async def test_a_reopening_answer_read_again_after_a_restore_is_announced_under_the_same_ids(
    stack_config: Any, stack_env: dict[str, str], tmp_path: Path
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    tokens = {
        r: {"Authorization": f"Bearer {stack_env[f'TOKEN_{r.upper()}']}"}
        for r in ("agent", "supervisor")
    }
    target = backup.Target(stack_env["DATABASE_URL"], bootstrap)
    try:
        with running(stack_config, "complaints", {}) as service:
            async with httpx.AsyncClient(base_url=service.url, timeout=10) as http:
                number = await case_in(http, tokens, "closed")
                folder = await backup.take(target, tmp_path)
                await answered(
                    bootstrap, f"case:{number}", "complaint_check", DISSATISFIED, case_cycle=1
                )
                await eventually(lambda: _answered_events(bootstrap, number, 1), timeout=30)
                await eventually(lambda: _outbox_drained(stack_env), timeout=30)
                service.stop()
                await restore_once_groups_empty(target, folder)  # the answer is not in the dump
                service.start()
                service.wait_ready()
                events = await eventually(
                    lambda: _answered_events(bootstrap, number, 2), timeout=60
                )
                case = (await http.get(f"/v1/cases/{number}", headers=tokens["supervisor"])).json()
    finally:
        await forget_restores(stack_env)
    assert case["status"] == "reopened"  # the answer was read again and reopened it again
    ids = {t: {e["id"] for e in events if e["type"] == t} for t in ANSWERED}
    assert [len([e for e in events if e["type"] == t]) for t in ANSWERED] == [2, 2]
    assert [len(ids[t]) for t in ANSWERED] == [1, 1], ids
