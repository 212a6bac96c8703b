"""The questionnaire editor's form (console/questionnaire_form.py, console/questionnaires.py)
in this process: adding, moving and removing a question gives the form back with the edit
made and everything typed kept, nothing sent to the service; a refusal of the notifications
service naming a question's field is shown beside that question's field; the form carries
the version it was made from, and a save the service refuses because another was saved
meanwhile shows the form again as typed, naming the version in force. Saving through the real
service is tests/e2e/test_console_questionnaires.py."""

from __future__ import annotations

import json
from typing import Any

import httpx

from console.questionnaire_form import Draft, edited, errors_by_field
from hospital_shared.questionnaires import ContactKind, default
from tests.console.in_process import console, idle_services

KIND = "complaint_check"


class Notifications:
    """The questionnaires as the service answers them; a PUT refused naming question 2's text."""

    def __init__(self) -> None:
        self.put: list[Any] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/questionnaires":
            items = [default(k).model_dump(mode="json") for k in ContactKind]
            return httpx.Response(200, json={"items": items, "next": None})
        if request.method == "PUT":
            self.put.append(json.loads(request.content))
            error = {"location": ["body", "questions", 1, "text"], "type": "string_too_short",
                     "message": "String should have at least 1 character"}  # fmt: skip
            return httpx.Response(422, json={"status": 422, "errors": [error]})
        return idle_services(request)


def _form(csrf: str, do: str) -> dict[str, str]:
    return {"csrf_token": csrf, "kind": KIND, "title": "投诉回访（改）", "do": do,
            "id-0": "handling", "aspect-0": "complaint_handling", "text-0": "处理结果满意吗？",
            "answer-0": "scale", "score-0": "on", "required-0": "on",
            "id-1": "comments", "aspect-1": "complaint_handling", "text-1": "  ",
            "answer-1": "text"}  # fmt: skip


def test_moving_a_question_down_keeps_what_was_typed_and_sends_nothing() -> None:
    service = Notifications()
    app = console(service)
    csrf = app.sign_in(staff_id="S-OPS-01", roles=["admin"], department="OPS").csrf_token
    page = app.client.post("/questionnaires", data=_form(csrf, "down-0"))
    assert page.status_code == 200 and service.put == []
    assert page.text.index('name="text-0" value=""') < page.text.index('value="处理结果满意吗？"')
    assert 'name="text-1" value="处理结果满意吗？"' in page.text
    assert 'value="投诉回访（改）"' in page.text and 'id="qn-unsaved"' in page.text


def test_the_services_refusal_of_a_questions_text_is_beside_that_question() -> None:
    service = Notifications()
    app = console(service)
    csrf = app.sign_in(staff_id="S-OPS-01", roles=["admin"], department="OPS").csrf_token
    page = app.client.post("/questionnaires", data=_form(csrf, "save"))
    assert page.status_code == 422
    assert '<span class="field-error" id="err-text-1">不能为空</span>' in page.text
    assert 'aria-describedby="err-text-1"' in page.text
    assert [q["id"] for q in service.put[0]["questions"]] == ["handling", "comments"]


def test_a_score_on_a_free_text_question_is_refused_before_sending() -> None:
    service = Notifications()
    app = console(service)
    csrf = app.sign_in(staff_id="S-OPS-01", roles=["admin"], department="OPS").csrf_token
    page = app.client.post("/questionnaires", data=_form(csrf, "save") | {"score-1": "on"})
    assert page.status_code == 422 and service.put == []
    assert 'id="err-score-1">文字回答的题目不能评分' in page.text


def test_a_supervisor_reads_the_questionnaires_but_may_not_change_them() -> None:
    service = Notifications()
    app = console(service)
    csrf = app.sign_in(staff_id="S-SUP-01", roles=["supervisor"], department="CS").csrf_token
    page = app.client.get("/questionnaires", params={"kind": KIND, "edit": "1"})
    assert page.status_code == 200 and "您对投诉的处理结果是否满意？" in page.text
    assert '<form method="post" action="/questionnaires' not in page.text
    assert app.client.post("/questionnaires", data=_form(csrf, "save")).status_code == 403
    assert service.put == []


def _draft(*ids: str) -> Draft:
    return Draft(KIND, "t", [{"id": i, "text": i.upper()} for i in ids])


def test_an_added_question_gets_a_free_id_and_a_removed_one_is_gone() -> None:
    added, place = edited(_draft("q1", "comments"), "add")
    assert [q["id"] for q in added.questions] == ["q1", "comments", "q2"] and place == 2
    removed, place = edited(added, "remove-0")
    assert [q["id"] for q in removed.questions] == ["comments", "q2"] and place == 0


def test_an_edit_past_either_end_changes_nothing() -> None:
    draft = _draft("a", "b")
    assert edited(draft, "up-0")[0].questions == draft.questions
    assert edited(draft, "down-1")[0].questions == draft.questions
    assert edited(draft, "remove-7") == (draft, None)


def test_errors_name_the_form_fields_of_their_question() -> None:
    found = errors_by_field(
        {"title": "t", "questions.2.aspect": "a", "questions.0.id": "i", "questions": "q",
         "questions.9.text": "gone"}, 3,
    )  # fmt: skip
    assert found == {"title": "t", "aspect-2": "a", "text-0": "i", "questions": "q"}


class SavedMeanwhile(Notifications):
    """Someone saved version 3 of the complaint follow-up's questionnaire: a PUT made from
    another version is refused as the service refuses it."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/questionnaires":
            items = [default(k).model_dump(mode="json") for k in ContactKind]
            for item in items:
                item.update(
                    {"version": 3, "title": "同事的第 3 版"} if item["kind"] == KIND else {}
                )
            return httpx.Response(200, json={"items": items, "next": None})
        if request.method == "PUT":
            body = json.loads(request.content)
            self.put.append(body)
            if body.get("base_version") != 3:
                detail = f"version 3 is in force, not {body.get('base_version')}: saved meanwhile"
                return httpx.Response(409, json={"status": 409, "detail": detail})
            return httpx.Response(200, json=body | {"kind": KIND, "version": 4})
        return idle_services(request)


def test_the_form_carries_the_version_it_was_made_from_through_an_edit() -> None:
    app = console(SavedMeanwhile())
    csrf = app.sign_in(staff_id="S-OPS-01", roles=["admin"], department="OPS").csrf_token
    page = app.client.get("/questionnaires", params={"kind": KIND, "edit": "1"})
    assert '<input type="hidden" name="base_version" value="3">' in page.text
    page = app.client.post("/questionnaires", data=_form(csrf, "add") | {"base_version": "2"})
    assert '<input type="hidden" name="base_version" value="2">' in page.text


def test_a_save_made_from_a_version_no_longer_in_force_shows_the_form_again_naming_it() -> None:
    service = SavedMeanwhile()
    app = console(service)
    csrf = app.sign_in(staff_id="S-OPS-01", roles=["admin"], department="OPS").csrf_token
    typed = _form(csrf, "save") | {"text-1": "还有什么意见？", "base_version": "2"}
    page = app.client.post("/questionnaires", data=typed)
    assert page.status_code == 409 and service.put[0]["base_version"] == 2
    assert "问卷在您修改期间已被他人更改：现行的是第 3 版（您是从第 2 版改起的）" in page.text
    assert f'href="/questionnaires?kind={KIND}#h-current" target="_blank"' in page.text
    assert 'value="投诉回访（改）"' in page.text and 'value="还有什么意见？"' in page.text
    assert '<input type="hidden" name="base_version" value="3">' in page.text  # now made from 3
    app.client.cookies.set("console_lang", "en")
    page = app.client.post("/questionnaires", data=typed)
    assert "Changed meanwhile: version 3 is now in force" in page.text
    saved = app.client.post("/questionnaires", data=typed | {"base_version": "3"},
                            follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303 and saved.headers["location"].endswith("saved=4#qn-saved")
