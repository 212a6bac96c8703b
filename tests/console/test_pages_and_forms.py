"""The console's pure parts: a service's 4xx as the form's errors, the outcome form as the
follow-up API's body, the inbox's links, the message catalogue and local times."""

from __future__ import annotations

from starlette.datastructures import FormData

from console.backend import problem_from
from console.calls import outcome_body
from console.inbox import page_of
from console.pages import catalogue, local_time, translate

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
