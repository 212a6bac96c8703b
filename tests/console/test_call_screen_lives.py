"""The call screen's form carries the life of the task it showed (`generation`) with the
attempt, so an outcome typed on a screen opened before the task was withdrawn and planned
again is refused (409) instead of counting as the new life's attempt; the refusal reads in the
page's language, the screen shows the task as it is now, and what was typed is kept."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from followup.views import TASK_EXAMPLE
from tests.console.in_process import console, idle_services

TASK_ID = "FU-A000123"
STALE = (
    f"task {TASK_ID} was withdrawn and planned again since the caller read generation 1:"
    " it is generation 2 now; reload it"
)


class Followup:
    """The follow-up service for one task in its second life, refusing an outcome of another
    life as the service does."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == f"/v1/tasks/{TASK_ID}/outcome":
            self.sent.append(json.loads(request.content))
            return httpx.Response(409, json={
                "type": "about:blank", "title": "Conflict", "status": 409, "detail": STALE,
                "generation": 2,
            })  # fmt: skip
        if path == f"/v1/tasks/{TASK_ID}":
            return httpx.Response(200, json=TASK_EXAMPLE | {
                "task_id": TASK_ID, "generation": 2, "attempts_made": 0,
                "next_calls": [], "attempts": [],
            })  # fmt: skip
        if path == "/v1/tasks":
            return httpx.Response(200, json={"items": [], "next": None, "limit": 50})
        return idle_services(request)


def test_the_outcome_form_carries_the_life_and_the_attempt_of_the_task_it_shows() -> None:
    app = console(Followup())
    app.sign_in()
    page = app.client.get(f"/calls/{TASK_ID}")
    assert page.status_code == 200
    [form] = re.findall(r"<form method=\"post\" action=\"/calls/.*?</form>", page.text, re.S)
    assert '<input type="hidden" name="generation" value="2">' in form
    assert '<input type="hidden" name="attempt" value="1">' in form


def test_an_outcome_typed_on_a_screen_of_the_tasks_earlier_life_is_refused_and_kept() -> None:
    """Before, the form sent no life: the service recorded it as the new life's attempt 1."""
    followup = Followup()
    app = console(followup)
    session = app.sign_in()
    typed = {"reached": "yes", "satisfaction": "satisfied", "score": "4",
             "feedback": "护士很耐心", "attempt": "1", "generation": "1",
             "csrf_token": session.csrf_token}  # fmt: skip
    answer = app.client.post(f"/calls/{TASK_ID}/outcome", data=typed)
    assert followup.sent == [{"reached": True, "satisfaction": "satisfied", "score": 4,
                              "feedback": "护士很耐心", "opt_out": False, "attempt": 1,
                              "generation": 1}]  # fmt: skip
    assert answer.status_code == 409
    assert "已被撤销并重新安排" in answer.text and "未保存" in answer.text
    assert STALE not in answer.text  # the Chinese page shows the Chinese sentence
    assert ">护士很耐心</textarea>" in answer.text
    assert (
        'value="satisfied" checked' in answer.text and '<option value="4" selected>' in answer.text
    )
    # the screen as the task is now: saving again records on its current life
    assert '<input type="hidden" name="generation" value="2">' in answer.text
    app.client.cookies.set("console_lang", "en")
    english = app.client.post(f"/calls/{TASK_ID}/outcome", data=typed)
    assert "was withdrawn and planned again after you opened this call screen" in english.text


def test_a_screen_left_open_while_the_task_is_withdrawn_reads_why_in_chinese() -> None:
    """Before the task is planned again the service says it is withdrawn: that read
    "当前状态下不能执行此操作（task … is withdrawn; no outcome can be recorded）"."""
    from console.backend import problem_from
    from console.refusals import said

    refused = problem_from(409, {"status": 409, "detail": f"task {TASK_ID} is withdrawn;"
                                 " no outcome can be recorded"})  # fmt: skip
    assert said(refused.message, "zh") == f"任务 {TASK_ID} 当前为「已撤销」，不能再登记回访结果"
    assert said(refused.message, "en") == (
        f"Task {TASK_ID} is no longer open (Withdrawn): no outcome can be recorded for it."
    )


def test_a_callback_the_service_refuses_is_marked_beside_its_field_in_chinese() -> None:
    """Follow-up refuses a call-back further ahead than its limit (a mistyped year) with a 422
    naming `callback_at`: the call screen says why beside the field, what was typed kept."""
    refusal = {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
               "detail": "the request is not valid", "errors": [{
                   "location": ["body", "callback_at"], "type": "value_error",
                   "message": "callback_at must be at most 90 days ahead"}]}  # fmt: skip

    def followup(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == f"/v1/tasks/{TASK_ID}/outcome":
            return httpx.Response(422, json=refusal)
        return Followup()(request)

    app = console(followup)
    session = app.sign_in()
    typed = {"reached": "no", "not_reached_reason": "callback_requested",
             "callback_at": "2099-12-09T10:00", "attempt": "1", "generation": "2",
             "csrf_token": session.csrf_token}  # fmt: skip
    answer = app.client.post(f"/calls/{TASK_ID}/outcome", data=typed)
    assert answer.status_code == 422
    [beside] = re.findall(
        r'<span class="field-error" id="err-callback_at">(.*?)</span>', answer.text
    )
    assert beside == "约定回拨时间最多只能在 90 天之后（请检查年份）"
    assert 'value="2099-12-09T10:00"' in answer.text
