"""What the console's pages say, read as a person reads them: times that are the patient's,
and Chinese words, never the services' codes or English sentences, on Chinese pages."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.datastructures import FormData

from complaints.responses import CASE_EXAMPLE
from hospital_shared.vocabulary import SystemNote
from tests.console.in_process import Handler, console, idle_services

NUMBER = "TS-20261206-0001"


def supervisors_page(services: Handler, path: str) -> str:
    """`path` as the desk's supervisor sees it, with `services` answering."""
    app = console(services)
    app.sign_in(roles=["supervisor"], staff_id="S-SUP-01")
    page = app.client.get(path)
    assert page.status_code == 200
    return page.text


def _queue(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/cases":
        case = CASE_EXAMPLE | {
            "case_number": NUMBER, "time_limits": [],
            "submitted_at": "2026-12-06T04:55:00Z", "opened_at": "2026-12-07T10:55:00Z",
        }  # fmt: skip
        return httpx.Response(200, json={"items": [case], "next": None, "limit": 50})
    return idle_services(request)


def test_the_queue_shows_when_the_patient_complained_and_when_the_case_was_entered() -> None:
    text = supervisors_page(_queue, "/cases")
    assert '<th scope="col">投诉时间</th>' in text
    row = text.split(f">{NUMBER}</a>")[1].split("</tr>")[0]
    assert row.index("2026-12-06 12:55") < row.index("录入 2026-12-07 18:55")


TASK_ID = "FU-A000123"


def _call_screen(request: httpx.Request) -> httpx.Response:
    from followup.views import TASK_EXAMPLE

    path = request.url.path
    if path == f"/v1/tasks/{TASK_ID}":
        return httpx.Response(200, json=TASK_EXAMPLE | {"task_id": TASK_ID, "attempts": []})
    if path == "/v1/tasks":
        return httpx.Response(200, json={"items": [], "next": None, "limit": 50})
    if path == "/v1/cases":
        case = CASE_EXAMPLE | {"case_number": NUMBER, "status": "received", "category": "billing"}
        return httpx.Response(200, json={"items": [case], "next": None, "limit": 50})
    if path == "/v1/messages":
        sms = {"created_at": "2026-12-06T04:55:00Z", "template": "complaint_acknowledgement",
               "channel": "sms", "status": "delivered"}  # fmt: skip
        return httpx.Response(200, json={"items": [sms], "next": None, "limit": 200})
    return idle_services(request)


def test_the_call_screen_names_open_complaints_and_sms_in_chinese_not_as_codes() -> None:
    text = supervisors_page(_call_screen, f"/calls/{TASK_ID}")
    assert "已受理 · 收费" in text
    assert "投诉受理回执 · 已送达" in text
    for code in ("received", "billing", "complaint_acknowledgement", "delivered"):
        assert f"· {code}" not in text


def test_a_callback_time_without_its_reason_is_marked_on_the_field_in_chinese() -> None:
    from console.calls import outcome_body
    from console.refusals import said

    form = FormData({"reached": "no", "not_reached_reason": "no_answer",
                     "callback_at": "2026-12-08T10:00"})  # fmt: skip
    _, errors = outcome_body(form, "Asia/Shanghai")
    assert "对方约定回拨" in said(errors["callback_at"], "zh")
    asked = FormData({"reached": "no", "not_reached_reason": "callback_requested"})
    assert "callback_at" in outcome_body(asked, "Asia/Shanghai")[1]


def handed_over(
    after: dict[str, Any], action: str, was: str | None, now: str | None, reason: SystemNote
) -> dict[str, Any]:
    """The system's audit line of a case's handler or supervisor changed, after `after`."""
    status = after["to_status"]
    detail = {"from": was, "to": now, "reason": reason}
    return after | {"action": action, "from_status": status, "to_status": status, "detail": detail}


def _case_with_system_notes(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == f"/v1/cases/{NUMBER}":
        return httpx.Response(200, json=CASE_EXAMPLE | {"case_number": NUMBER})
    if path == f"/v1/cases/{NUMBER}/audit":
        entry = {
            "at": "2026-12-06T04:55:00Z",
            "actor_id": "system",
            "actor_role": "system",
            "from_status": "received",
            "to_status": "received",
            "action": "escalated",
            "detail": {"note": "serious case or medical dispute: the director decides"},
        }
        reopened = entry | {
            "from_status": "closed",
            "to_status": "reopened",
            "action": "transition",
            "detail": {"note": "patient dissatisfied at the satisfaction check"},
        }
        audit = [
            entry,
            reopened,
            handed_over(entry, "assigned", "S-DOC-01", "S-DOC-02", SystemNote.HANDLER_DEACTIVATED),
            handed_over(entry, "assigned", "S-DOC-02", None, SystemNote.NOBODY_TO_TAKE_OVER),
            handed_over(reopened, "assigned", None, "S-DOC-03", SystemNote.REOPENED_WITHOUT_HANDLER),
            handed_over(entry, "supervisor_assigned", "S-SUP-01", "S-SUP-02", SystemNote.SUPERVISOR_INACTIVE),
            handed_over(entry, "supervisor_assigned", "S-SUP-02", None, SystemNote.NO_SUPERVISOR_TO_TAKE_OVER),
        ]  # fmt: skip
        return httpx.Response(200, json={"case_number": NUMBER, "audit": audit})
    if path == f"/v1/cases/{NUMBER}/accountability":
        return httpx.Response(200, json={"case_number": NUMBER, "accountability": []})
    if path == "/v1/staff":
        return httpx.Response(200, json={"items": [], "next": None, "limit": 50})
    return idle_services(request)


def test_the_audit_trail_shows_the_services_own_notes_in_chinese_older_records_too() -> None:
    text = supervisors_page(_case_with_system_notes, f"/cases/{NUMBER}")
    assert "重大投诉或医疗纠纷：由院领导决定" in text
    assert "满意度回访时患者表示不满意" in text
    assert "the director decides" not in text
    # a case its handler left when made inactive: why, then from whom to whom
    assert "原处理人已在人员名单中停用，案件转交他人 · S-DOC-01 → S-DOC-02" in text
    assert "原处理人已在人员名单中停用，暂无在岗人员可接手，案件待分派</td>" in text
    # reopened with no active handler; a supervisor made inactive, replaced or not
    assert "案件重新打开时无在岗处理人，案件转交他人 · — → S-DOC-03" in text
    assert "<td>更换主管</td>" in text
    assert "原主管已在人员名单中停用，案件改由其他主管督办 · S-SUP-01 → S-SUP-02" in text
    assert "暂无在岗主管可接替，时限提醒发给投诉受理科室主管</td>" in text


def test_the_greeting_and_the_saved_outcome_read_as_sentences_in_each_language() -> None:
    def worklist(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/worklist"):
            return httpx.Response(200, json={"items": []})
        return idle_services(request)

    app = console(worklist)
    app.sign_in(display_name="Wang Fang")
    app.client.cookies.set("console_lang", "en")
    assert "<h1>Welcome, Wang Fang</h1>" in app.client.get("/").text
    app.client.cookies.set("console_lang", "zh")
    saved = app.client.get("/worklist?saved=FU-A000123&status=completed").text
    assert "回访 FU-A000123 的结果已保存，任务状态：已完成" in saved


def test_an_unassigned_call_is_reassigned_to_nobody_until_someone_is_chosen() -> None:
    from console.pages import build_templates
    from console.wording import translate

    form = build_templates("Asia/Shanghai").from_string(
        "{% from 'supervisor/_reassign.html' import reassign_form with context %}"
        "{{ reassign_form('task_id', 'FU-1', current) }}"
    )
    roster = [{"staff_id": "S-AGENT-01", "name": "王芳"}, {"staff_id": "S-AGENT-02"}]
    common = {"t": lambda key: translate(key, "zh"), "roster": roster, "department": "CS",
              "session": None, "CSRF_FIELD": "csrf_token"}  # fmt: skip
    unassigned = form.render(current=None, **common)
    assert '<option value="" selected>选择人员…</option>' in unassigned
    assert "required" in unassigned and unassigned.count(" selected") == 1
    assigned = form.render(current="S-AGENT-02", **common)
    assert '<option value="S-AGENT-02" selected>' in assigned and "选择人员" not in assigned


def test_brackets_and_runs_are_those_of_the_page_language_and_escaped() -> None:
    from console.pages import build_templates

    page = build_templates("Asia/Shanghai").from_string(
        "{{ t }}{{ why | aside(lang) }} {{ ids | listed(lang) }}"
    )
    ids = ["TS-1", "<b>"]
    zh = page.render(t="您的角色无权查看此部分", why="仅主管", ids=ids, lang="zh")
    en = page.render(t="Not visible to your role", why="supervisors", ids=ids, lang="en")
    assert zh == "您的角色无权查看此部分（仅主管） TS-1、&lt;b&gt;"
    assert en == "Not visible to your role (supervisors) TS-1, &lt;b&gt;"


def test_the_complaints_services_new_refusals_read_in_chinese_beside_their_field() -> None:
    """A hand-over nobody could work on, praise of a staff id nobody has, and a phone that is
    not one (the service's 422s naming `to`, `staff_id` and `patient.phone`)."""
    from console.refusals import field_reason

    said = {
        "S-DIR-01 is a director: a director does not answer enquiries": "S-DIR-01 的岗位不负责答复咨询",
        "S-AGENT-01 owns this enquiry already": "S-AGENT-01 已是该咨询的负责人",
        "S-AGENT\u200b-01 is not an active member of staff": "不是在岗人员",
        "Value error, not a phone number (1)": "不是有效的电话号码",
        "Value error, not a possible phone number": "不是有效的电话号码",
    }
    for text, zh in said.items():
        assert zh in field_reason("value_error", text).zh, text
