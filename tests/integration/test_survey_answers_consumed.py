"""`survey.answered` consumed on the real stack (Kafka, PostgreSQL, the follow-up and complaints
services), published here as notifications publishes it: follow-up marks the visit's task
surveyed and plans the targeted second call for a dissatisfied answer, once however often the
event comes; complaints takes the post-closure check by link and reopens the case when the
patient is dissatisfied, but not for an answer about an earlier cycle. And a follow-up call
records answers per question, with their aspects, next to its old fields."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from hospital_shared import topics
from hospital_shared.codec import encode
from hospital_shared.events import make_event
from hospital_shared.service_events.surveys import SurveyAnswered
from tests.factories import discharge
from tests.integration.test_complaints_service import (  # noqa: F401  (fixtures)
    case_events,
    case_in,
    complaints,
    http,
    tokens,
)
from tests.integration.test_followup_service import (  # noqa: F401  (fixtures)
    DEPT,
    api,
    auth,
    followup,
    in_dept,
    outcome,
    planned_and_assigned,
    send,
    task,
    task_in,
    token_of,
    unique,
    wait_events,
)
from tests.kafka_tools import eventually, publish


async def answered(
    bootstrap: str, contact_ref: str, kind: str, answers: list[dict[str, Any]], **over: Any
) -> str:
    """Publish one survey.answered (as the survey page does); returns its survey id."""
    survey_id = over.pop("survey_id", uuid.uuid4().hex[:31])
    dissatisfied = any(a.get("satisfaction") == "不满意" for a in answers)
    data = SurveyAnswered.model_validate({
        "survey_id": survey_id, "patient_id": over.pop("patient_id", "P-SURVEY"),
        "contact_ref": contact_ref, "contact_kind": kind, "questionnaire_version": 1,
        "answered_at": datetime.now(UTC), "answers": answers, "dissatisfied": dissatisfied,
        **over,
    })  # fmt: skip
    event = make_event(
        "survey.answered", data, source="urn:hospital:notifications", subject=contact_ref,
        time=datetime.now(UTC), event_id=f"survey-answered:{survey_id}",
    )  # fmt: skip
    await publish(bootstrap, topics.SURVEYS, [(data.patient_id, encode(event))])
    return survey_id


# Spelt as the previous release published them (issue 18): consumers still read them.
GUIDANCE_BAD = {"question_id": "guidance", "aspect": "guidance", "satisfaction": "不满意"}
OVERALL_OK = {"question_id": "overall", "aspect": "overall", "satisfaction": "满意", "score": 4}


async def test_a_call_records_answers_per_question_and_a_bad_aspect_plans_a_second_call(
    api: httpx.AsyncClient,  # noqa: F811  (the imported fixture)
    stack_env: dict[str, str],
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    t = await planned_and_assigned(api, bootstrap)
    answers = [OVERALL_OK, GUIDANCE_BAD, {"question_id": "comments", "aspect": "overall",
                                          "text": "导医台没人"}]  # fmt: skip
    token = token_of(t["assignee_id"])
    unknown = await outcome(api, t["task_id"], token, reached=True, satisfaction="满意",
                            answers=[{**OVERALL_OK, "aspect": "parking"}], questionnaire_version=1)  # fmt: skip
    assert unknown.status_code == 422 and "aspect" in unknown.text
    resp = await outcome(api, t["task_id"], token, reached=True, satisfaction="满意",
                         answers=answers, questionnaire_version=1)  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert resp.json()["second_call_task_id"] == f"{t['task_id']}-2"
    [completed] = await wait_events(bootstrap, t["task_id"], "followup.task_completed")
    assert [a["aspect"] for a in completed["data"]["answers"]] == ["overall", "guidance", "overall"]
    detail = await task_in(api, t["task_id"], "completed")
    assert detail["outcome"]["answers"][2]["text"] == "导医台没人"
    # A client of the previous release spelt it 满意 (issue 18's compatibility window): taken,
    # and kept and answered in the vocabulary's spelling.
    assert detail["outcome"]["satisfaction"] == "satisfied"  # the old field, as before
    assert completed["data"]["satisfaction"] == "satisfied"


async def test_a_dissatisfied_survey_marks_the_task_and_plans_one_second_call(
    api: httpx.AsyncClient,  # noqa: F811  (the imported fixture)
    stack_env: dict[str, str],
) -> None:
    t = await planned_and_assigned(api, stack_env["KAFKA_BOOTSTRAP_SERVERS"])
    bootstrap, admission = stack_env["KAFKA_BOOTSTRAP_SERVERS"], t["why"]["source_ref"]
    survey = await answered(bootstrap, f"admission:{admission}", "inpatient_discharge",
                            [OVERALL_OK, GUIDANCE_BAD], department_code=DEPT)  # fmt: skip
    second = await task_in(api, f"{t['task_id']}-2", "planned", "assigned")
    assert (second["kind"], second["why"]["rule"]) == ("second_call", "survey.dissatisfied")
    await answered(bootstrap, f"admission:{admission}", "inpatient_discharge",
                   [GUIDANCE_BAD], survey_id=survey, department_code=DEPT)  # the same again  # fmt: skip
    # the marker: a satisfied survey of another task, once it is seen the repeat was too
    marker = await planned_and_assigned(api, bootstrap)
    await answered(bootstrap, f"admission:{marker['why']['source_ref']}", "inpatient_discharge",
                   [OVERALL_OK], department_code=DEPT)  # fmt: skip

    async def marked() -> dict[str, Any] | None:
        got = await task_in(api, marker["task_id"], "assigned")
        return got if got["survey"]["answered_at"] else None

    await eventually(marked, timeout=30)
    planned = await wait_events(bootstrap, f"{t['task_id']}-2", "followup.task_planned")
    assert len(planned) == 1
    detail = await task_in(api, t["task_id"], "assigned")
    assert detail["survey"]["dissatisfied"] is True  # the call itself is still to be made


async def test_a_death_withdraws_the_patients_open_call_and_a_survey_plans_no_second_call(
    api: httpx.AsyncClient,  # noqa: F811  (the imported fixture)
    stack_env: dict[str, str],
) -> None:
    """The patient of an assigned discharge call dies in a later stay: the call is withdrawn
    (nobody phones the family for a satisfaction call), and a dissatisfied survey of the
    first stay, answered before the death was reported, plans no second call. The call stayed
    assigned, and the survey planned `<task>-2`, to the deceased patient's phone."""
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    t = await planned_and_assigned(api, bootstrap)
    patient = {**t["patient"], "phone": "13800138000"}
    [n] = unique()
    death = in_dept(discharge(n, patient=patient, disposition="deceased",
                              discharged_at=datetime.now(UTC).isoformat()))  # fmt: skip
    await send(bootstrap, topics.DISCHARGES, death)
    await task_in(api, t["task_id"], "withdrawn")
    [withdrawn] = await wait_events(bootstrap, t["task_id"], "followup.task_withdrawn")
    assert withdrawn["data"]["reason"] == "patient_deceased"
    # a stay before the death read after it (another topic's lag, a late HIS feed): its call
    # ends withdrawn all the same
    [m] = unique()
    late = in_dept(discharge(m, patient=patient,
                             discharged_at=(datetime.now(UTC) - timedelta(days=3)).isoformat()))  # fmt: skip
    await send(bootstrap, topics.DISCHARGES, late)
    [withdrawn] = await wait_events(bootstrap, f"FU-A{m:06d}", "followup.task_withdrawn")
    assert withdrawn["data"]["reason"] == "patient_deceased"
    assert (await task_in(api, f"FU-A{m:06d}", "withdrawn"))["assignee_id"] is None

    pid = patient["patient_id"]
    await answered(bootstrap, f"admission:{t['why']['source_ref']}", "inpatient_discharge",
                   [GUIDANCE_BAD], patient_id=pid, department_code=DEPT)  # fmt: skip
    # the marker: another call's survey on the same key (behind it), once it is marked
    marker = await planned_and_assigned(api, bootstrap)
    await answered(bootstrap, f"admission:{marker['why']['source_ref']}", "inpatient_discharge",
                   [OVERALL_OK], patient_id=pid, department_code=DEPT)  # fmt: skip

    async def marked() -> dict[str, Any] | None:
        got = await task_in(api, marker["task_id"], "assigned")
        return got if got["survey"]["answered_at"] else None

    await eventually(marked, timeout=30)
    assert (await task_in(api, t["task_id"], "withdrawn"))["survey"]["answered_at"]
    assert await task(api, f"{t['task_id']}-2") is None


async def test_a_dissatisfied_survey_of_a_visit_not_sampled_plans_the_targeted_second_call(
    api: httpx.AsyncClient,  # noqa: F811  (the imported fixture)
    stack_env: dict[str, str],
) -> None:
    """No call was planned for the visit (not sampled): the survey's dissatisfied answer is
    the only one, and it plans the second call as a dissatisfied call would."""
    registration = f"R-NS{uuid.uuid4().hex[:10]}"
    await answered(stack_env["KAFKA_BOOTSTRAP_SERVERS"], f"registration:{registration}",
                   "outpatient_visit", [GUIDANCE_BAD], department_code=DEPT)  # fmt: skip
    second = await task_in(api, f"FU-OP-{registration}-2", "planned", "assigned")
    assert (second["kind"], second["why"]["rule"]) == ("second_call", "survey.dissatisfied")
    assert second["why"]["source_ref"] == registration


async def test_the_complaint_check_by_link_reopens_a_dissatisfied_case_of_its_cycle_only(
    complaints: Any,  # noqa: F811  (the imported fixtures)
    http: httpx.AsyncClient,  # noqa: F811
    tokens: dict[str, Any],  # noqa: F811
    stack_env: dict[str, str],
) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    stale = await case_in(http, tokens, "closed")
    await answered(bootstrap, f"case:{stale}", "complaint_check",
                   [{"question_id": "handling", "aspect": "complaint_handling",
                     "satisfaction": "不满意"}], case_cycle=2)  # fmt: skip
    number = await case_in(http, tokens, "closed")
    await answered(bootstrap, f"case:{number}", "complaint_check",
                   [{"question_id": "handling", "aspect": "complaint_handling",
                     "satisfaction": "不满意"},
                    {"question_id": "comments", "aspect": "complaint_handling",
                     "text": "退费金额不对"}], case_cycle=1)  # fmt: skip

    async def reopened() -> list[str] | None:
        types = [e["type"] for e in await case_events(bootstrap, number)]
        return types if "complaint.case_reopened" in types else None

    types = await eventually(reopened, timeout=30)
    assert types[-2:] == ["complaint.satisfaction_recorded", "complaint.case_reopened"]
    # the stale answer came first on the same topic and partition order is per patient: by
    # the time the second case reopened, the first was handled, and it is still closed
    case = (await http.get(f"/v1/cases/{stale}", headers=tokens["supervisor"])).json()
    assert case["status"] == "closed" and case.get("satisfaction") is None
