"""The console's pure parts: a service's 4xx as the form's errors, the outcome form as the
follow-up API's body, the inbox's links, the message catalogue and local times."""

from __future__ import annotations

from starlette.datastructures import FormData

from console.backend import problem_from
from console.calls import outcome_body
from console.inbox import page_of
from console.pages import catalogue, local_time, translate
from console.refusals import said

TZ = "Asia/Shanghai"


def test_a_422_names_each_field_as_a_problem_or_in_the_older_shape_and_a_sentence_is_the_message() -> (
    None
):
    body = {"detail": [{"loc": ["body", "score"], "msg": "at most 5", "type": "x"},
                       {"loc": ["body", "next_calls", 0, "on"], "msg": "after today", "type": "x"}]}  # fmt: skip
    problem = problem_from(422, body)
    assert problem.fields == {"score": "at most 5", "on": "after today"} and problem.message == ""
    problem = problem_from(422, {
        "type": "urn:hospital:problem:validation", "title": "Unprocessable Content", "status": 422,
        "detail": "2 fields are not valid",
        "errors": [{"location": ["body", "score"], "message": "at most 5", "type": "x"},
                   {"location": ["body", "next_calls", 0, "on"], "message": "after today", "type": "x"}]})  # fmt: skip
    assert problem.fields == {"score": "at most 5", "on": "after today"} and problem.message == ""
    conflict = problem_from(409, {"detail": "task FU-1 is already assigned to S-2"})
    assert (conflict.fields, conflict.message) == ({}, "task FU-1 is already assigned to S-2")


def test_a_reached_call_sends_its_answers_and_not_the_not_reached_fields() -> None:
    form = FormData([("reached", "yes"), ("satisfaction", "satisfied"), ("score", "4"),
                     ("feedback", " 很好 "), ("objection", ""), ("not_reached_reason", "busy")])  # fmt: skip
    body, errors = outcome_body(form, TZ)
    assert errors == {}
    assert body == {"reached": True, "satisfaction": "satisfied", "score": 4, "feedback": "很好",
                    "opt_out": False}  # fmt: skip


def test_a_requested_callback_is_sent_in_the_hospitals_time_zone() -> None:
    form = FormData([("reached", "no"), ("not_reached_reason", "callback_requested"),
                     ("callback_at", "2026-12-07T10:30"), ("satisfaction", "satisfied")])  # fmt: skip
    body, errors = outcome_body(form, TZ)
    assert errors == {}
    assert body == {"reached": False, "not_reached_reason": "callback_requested",
                    "callback_at": "2026-12-07T10:30:00+08:00", "opt_out": False}  # fmt: skip


def test_the_form_without_an_answer_to_reached_is_refused_before_sending() -> None:
    _, errors = outcome_body(FormData([("callback_at", "not a time")]), TZ)
    assert errors == {"reached": "required"}
    _, errors = outcome_body(FormData([("reached", "no"), ("callback_at", "soon")]), TZ)
    assert errors == {"callback_at": "invalid"}


def test_a_score_that_is_not_ascii_digits_is_refused_before_sending() -> None:
    """`"²".isdigit()` is true and `int("²")` raises: the call screen answered a 500."""
    for score in ("²", "x", "9" * 5000):
        _, errors = outcome_body(FormData([("reached", "yes"), ("score", score)]), TZ)
        assert errors == {"score": "invalid"}, score


def test_a_note_links_to_the_page_of_its_task_or_case() -> None:
    assert page_of("task:FU-A1") == "/calls/FU-A1"
    assert page_of("case:TS-20261205-0001") == "/cases/TS-20261205-0001"
    assert page_of("queue:Q3") is None and page_of(None) is None and page_of("task:") is None


def test_every_message_has_chinese_and_english_and_a_missing_key_shows_itself() -> None:
    assert all(entry.get("zh") and entry.get("en") for entry in catalogue().values())
    assert translate("nav.worklist", "en") == "My tasks"
    assert translate("no.such.key", "zh") == "no.such.key"


def test_times_are_shown_in_the_hospitals_zone() -> None:
    assert local_time("2026-12-05T02:30:00+00:00", TZ) == "2026-12-05 10:30"
    assert local_time(None, TZ) == ""


def test_every_key_a_template_names_is_in_the_catalogue() -> None:
    import re
    from pathlib import Path

    import console

    templates = Path(console.__file__).parent / "templates"
    named = {
        key
        for path in templates.rglob("*.html")
        for key in re.findall(r"\bt\('([a-z_.]+)'\)", path.read_text("utf-8"))
    }
    assert named and named - set(catalogue()) == set()


def test_the_catalogue_names_each_key_once() -> None:
    """A key written twice is read as its last entry: "transfer_check" was 转科回访 in one and
    转院随访 (the patient went to another hospital: the right one) in the other."""
    import json
    from collections import Counter
    from pathlib import Path

    import console

    path = Path(console.__file__).parent / "messages.json"
    keys = json.loads(
        path.read_text("utf-8"), object_pairs_hook=lambda pairs: [k for k, _ in pairs]
    )
    assert [k for k, n in Counter(keys).items() if n > 1] == []


def test_each_answer_of_a_service_becomes_what_the_page_shows() -> None:
    import httpx
    import pytest

    from console.backend import NotFound, Problem, Refused, Unavailable, _answer
    from console.session import SignInRequired

    def answer(status: int, body: object) -> httpx.Response:
        return httpx.Response(status, json=body)

    assert _answer("followup", answer(200, {"ok": 1})) == {"ok": 1}
    with pytest.raises(SignInRequired):
        _answer("followup", answer(401, {"detail": "expired"}))
    with pytest.raises(Refused, match="own department"):
        _answer("complaints", answer(403, {"detail": "a supervisor sees their own department"}))
    with pytest.raises(NotFound):
        _answer("followup", answer(404, {"detail": "no such task"}))
    with pytest.raises(Problem) as problem:
        _answer("followup", answer(409, {"detail": "already assigned"}))
    assert problem.value.message == "already assigned"
    with pytest.raises(Unavailable) as away:
        _answer("metrics", httpx.Response(502, text="bad gateway"))
    assert away.value.service == "metrics"


def test_a_services_refusal_reads_in_chinese_first_and_as_the_service_said_it_in_english() -> None:
    from console.backend import Refused, refusal_from

    mine = refusal_from(403, {"type": "about:blank", "status": 403,
                              "detail": "case TS-20261205-0007 is not yours"})  # fmt: skip
    assert said(mine, "zh") == "案件 TS-20261205-0007 不在您的处理范围内"
    assert said(mine, "en") == "case TS-20261205-0007 is not yours"
    step = problem_from(409, {
        "type": "urn:hospital:problem:transition-refused", "status": 409,
        "detail": "a case that is received cannot go to closed; allowed: acknowledged",
        "current_status": "received", "requested": "closed", "allowed_next": ["acknowledged"]})  # fmt: skip
    assert (
        said(step.message, "zh") == "案件当前为「已受理」，不能执行「结案」。可以执行：首次回应患者"
    )
    assert said(step.message, "en").startswith("a case that is received cannot go to closed")
    fields = problem_from(422, {"type": "urn:hospital:problem:validation", "status": 422,
        "errors": [{"location": ["body", "description"], "message": "Field required", "type": "missing"},
                   {"location": ["body", "amount"], "message": "a settlement pays more than 0",
                    "type": "value_error"}]}).fields  # fmt: skip
    assert {f: said(m, "zh") for f, m in fields.items()} == {
        "description": "必填", "amount": "和解金额必须大于 0"}  # fmt: skip
    assert said(fields["description"], "en") == "Field required"
    # a sentence the catalogue does not know: the status's sentence, the service's words beside
    odd = refusal_from(409, {"status": 409, "detail": "the moon is in the wrong phase"})
    assert said(odd, "zh") == "当前状态下不能执行此操作（the moon is in the wrong phase）"
    assert (
        said(Refused("only supervisors and operations").reason, "zh") == "此页面仅限主管和运营部门"
    )
    assert said("required", "zh") == "必填" and said("required", "en") == "required"


def test_the_complaint_form_is_the_complaints_services_opening_and_its_errors_go_beside_the_field() -> (
    None
):
    from console.complaint_form import BODY_FIELDS, FIELDS, case_body
    from console.desk_forms import form_errors

    typed = dict.fromkeys(FIELDS, "") | {
        "patient_name": "钱学文", "patient_phone": "13700001111", "channel": "onsite",
        "category": "waiting_time", "department_code": "CARD", "seriousness": "complex",
        "description": "候诊两小时无人解释", "submitted_at": "2026-12-05T09:30",
        "external_id": "desk-form-1",
    }  # fmt: skip
    body, errors = case_body(typed, TZ)
    assert errors == {}
    assert body == {
        "channel": "onsite", "description": "候诊两小时无人解释", "external_id": "desk-form-1",
        "patient": {"name": "钱学文", "phone": "13700001111"},  # a relative: no id
        "department": {"code": "CARD"}, "category": "waiting_time", "complex": True,
        "submitted_at": "2026-12-05T09:30:00+08:00",
    }  # fmt: skip
    anonymous, _ = case_body(dict.fromkeys(FIELDS, "") | {"description": "x"}, TZ)
    assert "patient" not in anonymous and "complex" not in anonymous
    assert anonymous["channel"] == "phone"
    _, bad = case_body(dict.fromkeys(FIELDS, "") | {"submitted_at": "yesterday"}, TZ)
    assert bad == {"submitted_at": "invalid"}
    problem = problem_from(422, {"type": "urn:hospital:problem:validation", "status": 422,
        "errors": [{"location": ["body", "patient", "patient_id"], "message": "String should have"
                    " at least 1 character", "type": "string_too_short"},
                   {"location": ["body", "department", "name"], "message": "x", "type": "missing"},
                   {"location": ["body", "description"], "message": "Field required", "type": "missing"}]})  # fmt: skip
    fields, message = form_errors(problem, BODY_FIELDS, "description")
    assert {f: said(m, "zh") for f, m in fields.items()} == {
        "patient_id": "不能为空", "department_name": "必填", "description": "必填"}  # fmt: skip
    assert message == ""


def test_a_search_for_a_number_however_typed_is_a_phone_search_and_other_text_a_name() -> None:
    from console.patients import search_kind

    for typed in ("13800138000", "138 0013 8000", "+86 138-0013-8000", "(0086) 13800138000"):
        assert search_kind(typed, "auto") == "phone"
    for typed in ("钱学文", "学文", "Li Lei", "123"):
        assert search_kind(typed, "auto") == "name"
    assert search_kind("PW123456", "patient_id") == "patient_id"


def test_every_refusal_the_console_says_itself_has_its_chinese() -> None:
    import re
    from pathlib import Path

    from console.backend import Refused

    sources = Path(__file__).resolve().parents[2] / "services" / "console" / "console"
    said_here = {m for f in sources.glob("*.py")
                 for m in re.findall(r'raise Refused\("([^"]+)"\)', f.read_text("utf-8"))}  # fmt: skip
    assert len(said_here) >= 3
    for text in said_here:
        zh = said(Refused(text).reason, "zh")
        assert text not in zh, f"no Chinese for {text!r}"


def test_the_refusals_a_staff_screen_meets_from_notifications_read_in_chinese() -> None:
    """The patient page asks notifications for the patient's messages as every role; an agent
    is refused. The section read "您的角色无权查看此部分（您的角色无权执行此操作（a patient's
    messages…））" (docs/screens/patient.png) before these sentences were in the catalogue."""
    from console.backend import refusal_from
    from hospital_shared.auth import Principal, Role
    from notifications.access import (
        OWN_CHANNELS_ONLY,
        OWN_NOTIFICATIONS_ONLY,
        patient_history_refusal,
    )

    agent = Principal(name="agent", role=Role.AGENT, staff_id="S-AGENT-01")
    for sentence in (patient_history_refusal(agent), OWN_NOTIFICATIONS_ONLY, OWN_CHANNELS_ONLY):
        assert sentence is not None
        zh = said(refusal_from(403, {"status": 403, "detail": sentence}), "zh")
        assert not any("a" <= c.lower() <= "z" for c in zh), zh


def test_the_refusal_of_an_enquiry_taken_by_a_member_made_inactive_reads_in_chinese() -> None:
    from complaints.enquiry_cases import inactive_taker
    from console.backend import refusal_from

    refused = refusal_from(403, {"status": 403, "detail": inactive_taker("S-AGENT-09")})
    assert said(refused, "zh") == "S-AGENT-09 已在人员名单上停用，不能受理咨询"


def test_a_call_refused_to_a_member_made_inactive_reads_in_chinese() -> None:
    """Follow-up refuses taking, recording and reassigning calls to a member made inactive."""
    from console.backend import refusal_from

    for refused in ("they take no calls", "they record no call outcomes", "they assign no calls"):
        detail = f"S-SUP-02 is inactive on the roster: {refused}"
        reason = refusal_from(403, {"status": 403, "detail": detail})
        assert said(reason, "zh") == "S-SUP-02 已在人员名单上停用，不能再领取、登记或转派回访任务"


def test_a_score_that_is_not_a_number_is_an_error_beside_the_score_not_a_500() -> None:
    for typed in ("five", "²", "٣", "4.5"):
        form = FormData([("reached", "yes"), ("satisfaction", "satisfied"), ("score", typed)])
        _, errors = outcome_body(form, TZ)
        assert errors == {"score": "invalid"}, typed


def test_the_outcome_form_sends_the_attempt_its_screen_showed_so_a_second_send_is_refused() -> None:
    form = FormData([("reached", "no"), ("not_reached_reason", "no_answer"), ("attempt", "2")])
    body, errors = outcome_body(form, TZ)
    assert errors == {}
    assert body == {"reached": False, "not_reached_reason": "no_answer", "opt_out": False,
                    "attempt": 2}  # fmt: skip
    twice = problem_from(409, {
        "type": "about:blank", "status": 409, "attempts_made": 2,
        "detail": "task FU-1 has 2 attempts recorded: attempt 2 is not the next one (3)"})  # fmt: skip
    assert said(twice.message, "zh").startswith("任务 FU-1 已登记 2 次拨打")
    assert said(twice.message, "en") == twice.message


def test_a_version_or_attempt_that_is_not_ascii_digits_is_sent_as_given_not_a_500() -> None:
    """The case forms' version and the call form's attempt are hidden fields: edited by hand
    to "²" (isdigit() true, int() fails) or 5,000 digits, they were a 500. The version goes as
    given (the service answers 422 naming it); an attempt that is not a number is left out."""
    from console.case_actions import ACTIONS, body_of

    for typed in ("²", "9" * 5000, "x"):
        assert (
            body_of(ACTIONS["imaging"], FormData([("expected_version", typed)]))["expected_version"]
            == typed
        )
        body, _ = outcome_body(FormData([("reached", "no"), ("attempt", typed)]), TZ)
        assert "attempt" not in body, typed
    assert (
        body_of(ACTIONS["imaging"], FormData([("expected_version", "7")]))["expected_version"] == 7
    )


def test_an_enquiry_form_is_the_services_body_with_the_patients_time_in_the_hospitals_zone() -> (
    None
):
    from console.enquiries import FIELDS as ENQUIRY_FIELDS
    from console.enquiries import enquiry_body

    typed = dict.fromkeys(ENQUIRY_FIELDS, "") | {
        "channel": "onsite", "question": "周六有专家门诊吗", "complex": "yes",
        "patient_name": "周雨", "patient_phone": "13912340000", "department_code": "CARD",
        "taken_at": "2026-12-05T09:30", "external_id": "enquiry-form-1",
    }  # fmt: skip
    body, errors = enquiry_body(typed, TZ)
    assert errors == {}
    assert body == {
        "channel": "onsite", "question": "周六有专家门诊吗", "complex": True,
        "patient": {"name": "周雨", "phone": "13912340000"}, "department": {"code": "CARD"},
        "taken_at": "2026-12-05T09:30:00+08:00", "external_id": "enquiry-form-1",
    }  # fmt: skip
    anonymous, _ = enquiry_body(dict.fromkeys(ENQUIRY_FIELDS, "") | {"question": "x"}, TZ)
    assert anonymous == {"channel": "phone", "question": "x", "complex": False, "external_id": None}
    _, bad = enquiry_body(dict.fromkeys(ENQUIRY_FIELDS, "") | {"taken_at": "今天上午"}, TZ)
    assert bad == {"taken_at": "invalid"}
