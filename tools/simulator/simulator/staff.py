"""The staff mode: simulated staff work their lists through the services' HTTP APIs.

- follow-up calls: every assigned task gets an outcome (reached or not, satisfaction, now and
  then an objection), so retries, second calls, spot checks and objections-as-complaints
  happen;
- complaints: every case the supervisor can see is moved through its lifecycle (acknowledge,
  investigate, propose, approve, communicate, close, satisfaction check), and a dissatisfied
  patient reopens it.

Choices are drawn from a generator seeded with the run's seed and the task or case id, so a
rerun makes the same choices for the same work.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from hospital_shared.vocabulary import CaseStatus, Satisfaction

CALL_OUTCOMES: tuple[tuple[dict[str, Any], float], ...] = (
    ({"reached": False}, 0.15),
    ({"reached": True, "satisfaction": Satisfaction.SATISFIED, "score": 5}, 0.62),
    ({"reached": True, "satisfaction": Satisfaction.FAIRLY_SATISFIED, "score": 4}, 0.14),
    (
        {
            "reached": True,
            "satisfaction": Satisfaction.DISSATISFIED,
            "score": 2,
            "feedback": "等候时间太长",
        },
        0.05,
    ),
    (
        {
            "reached": True,
            "satisfaction": Satisfaction.FAIRLY_SATISFIED,
            "objection": "出院带药与医嘱不一致",
        },
        0.04,
    ),
)
# A case's next step from each status, as the staff choose it.
NEXT_STEP = {
    CaseStatus.RECEIVED: {"to": "acknowledged", "note": "已电话联系患者"},
    CaseStatus.REOPENED: {"to": "acknowledged", "note": "重新受理"},
    CaseStatus.ACKNOWLEDGED: {"to": "investigating", "note": "调取记录，约谈相关人员"},
    CaseStatus.INVESTIGATING: {
        "to": "resolution_proposed",
        "resolution": "向患者致歉并安排免费复查",
        "resolution_kind": "free_re_examination",
    },
    CaseStatus.RESOLUTION_PROPOSED: {"to": "resolution_approved", "note": "同意处理方案"},
    CaseStatus.RESOLUTION_APPROVED: {"to": "resolution_implemented", "note": "已按方案复查并致歉"},
    CaseStatus.RESOLUTION_IMPLEMENTED: {"to": "communicated", "note": "已告知患者处理结果"},
    CaseStatus.COMMUNICATED: {"to": "summary_signed_off", "note": "同意结案，窗口加强培训"},
    CaseStatus.SUMMARY_SIGNED_OFF: {"to": "closed"},
}
CASE_SATISFACTION = (
    (Satisfaction.SATISFIED, 0.9),
    (Satisfaction.FAIRLY_SATISFIED, 0.07),
    (Satisfaction.DISSATISFIED, 0.03),
)


@dataclass
class StaffConfig:
    followup_url: str
    complaints_url: str
    admin_token: str
    # Each supervisor works the cases of their department (and the desk's); a case of a
    # department with its own supervisor is seen by that supervisor only.
    supervisor_tokens: tuple[str, ...]
    seed: int = 42
    # Four eyes: whoever proposed a resolution may not approve it, and escalated (serious)
    # cases are the director's: the director approves every proposal the supervisors make.
    director_token: str | None = None
    interval_s: float = 1.0
    page: int = 200


@dataclass
class StaffReport:
    actions: Counter[str] = field(default_factory=Counter)

    def add(self, what: str) -> None:
        self.actions[what] += 1


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(f"{seed}:{key}")


def _pick(rng: random.Random, pairs: Any) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


async def _work_list(
    client: httpx.AsyncClient, url: str, key: str, params: dict[str, Any], headers: dict[str, str],
    report: StaffReport, page: int, act: Callable[[dict[str, Any]], Awaitable[bool]],
) -> None:  # fmt: skip
    """Call `act` on every item of a paged list, every page of it (a busy stack has more than
    one), following each page's `next` link (`key` names the list in the report). An item seen
    once is not acted on again in this pass (a retried call moves later in the list)."""
    seen: set[str] = set()
    link: str | None = url
    query: dict[str, Any] | None = {**params, "limit": page}
    while link is not None:
        resp = await client.get(link, params=query, headers=headers)
        if resp.status_code != 200:
            report.add(f"{key}.list_http_{resp.status_code}")
            return
        body = resp.json()
        for item in body.get("items", []):
            ident = str(item.get("task_id") or item.get("case_number"))
            if ident not in seen:
                seen.add(ident)
                await act(item)
        following = body.get("next")
        link, query = (str(httpx.URL(url).join(following)), None) if following else (None, None)


async def work_calls(client: httpx.AsyncClient, cfg: StaffConfig, report: StaffReport) -> int:
    """Record an outcome on every assigned task that is open for a call now."""
    headers = {"Authorization": f"Bearer {cfg.admin_token}"}
    done = 0

    async def call(task: dict[str, Any]) -> bool:
        nonlocal done
        task_id = task["task_id"]
        attempt = int(task.get("attempts_made") or 0)
        outcome = dict(_pick(_rng(cfg.seed, f"{task_id}:{attempt}"), CALL_OUTCOMES))
        r = await client.post(
            f"{cfg.followup_url}/v1/tasks/{task_id}/outcome", json=outcome, headers=headers
        )
        if r.status_code != 200:
            report.add(f"call.refused_{r.status_code}")
            return False
        done += 1
        status = r.json().get("status", "?")
        report.add(f"call.{status}")
        return status != "assigned"

    await _work_list(
        client, f"{cfg.followup_url}/v1/tasks", "tasks", {"status": "assigned"}, headers, report,
        cfg.page, call,
    )  # fmt: skip
    return done


async def work_cases(client: httpx.AsyncClient, cfg: StaffConfig, report: StaffReport) -> int:
    """Move every open case a supervisor sees one step on (or record the satisfaction check),
    as each supervisor in turn."""
    moved = 0
    for token in cfg.supervisor_tokens:
        moved += await _work_cases_as(client, cfg, report, {"Authorization": f"Bearer {token}"})
    return moved


def _mover(cfg: StaffConfig, case: dict[str, Any], headers: dict[str, str]) -> dict[str, str]:
    """Who takes the case's next step: the director approves, the supervisor does the rest."""
    if case["status"] == "resolution_proposed" and cfg.director_token:
        return {"Authorization": f"Bearer {cfg.director_token}"}
    return headers


async def _work_cases_as(
    client: httpx.AsyncClient, cfg: StaffConfig, report: StaffReport, headers: dict[str, str]
) -> int:
    moved = 0

    async def step(case: dict[str, Any]) -> bool:
        nonlocal moved
        number = case["case_number"]
        base = f"{cfg.complaints_url}/v1/cases/{number}"
        if case["status"] == "closed":
            if case.get("satisfaction") or case.get("satisfaction_rating"):
                return False
            rating = _pick(_rng(cfg.seed, f"{number}:{case.get('cycle', 1)}"), CASE_SATISFACTION)
            r = await client.post(f"{base}/satisfaction", json={"rating": rating},
                                  headers=headers)  # fmt: skip
            report.add(f"case.satisfaction_{rating}" if r.status_code == 200 else
                       f"case.satisfaction_refused_{r.status_code}")  # fmt: skip
        else:
            to = NEXT_STEP[case["status"]]
            r = await client.post(
                f"{base}/transitions", json=to, headers=_mover(cfg, case, headers)
            )
            report.add(f"case.{to['to']}" if r.status_code == 200 else
                       f"case.refused_{r.status_code}")  # fmt: skip
        if r.status_code != 200:
            return False
        moved += 1
        return r.json().get("status", case["status"]) != case["status"]

    for status in (*NEXT_STEP, "closed"):
        await _work_list(
            client, f"{cfg.complaints_url}/v1/cases", "cases", {"status": status}, headers,
            report, cfg.page, step,
        )  # fmt: skip
    return moved


async def run_staff(
    cfg: StaffConfig, *, duration_s: float, stop: asyncio.Event | None = None
) -> StaffReport:
    """Work the lists every `interval_s` for `duration_s` (or until `stop` is set)."""
    report = StaffReport()
    deadline = time.monotonic() + duration_s
    async with httpx.AsyncClient(timeout=30.0) as client:
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            try:
                busy = await work_calls(client, cfg, report)
                busy += await work_cases(client, cfg, report)
            except httpx.HTTPError as exc:
                report.add(f"http_error.{type(exc).__name__}")
                busy = 0
            if not busy:
                await asyncio.sleep(cfg.interval_s)
    return report
