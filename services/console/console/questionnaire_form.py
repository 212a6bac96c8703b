"""The questionnaire editor's form as data (pure): the questions as typed, the edits a button
asks for (add one at the end, move one up or down, remove one), the body of notifications'
`PUT /v1/questionnaires/{kind}`, and the service's refusals put beside the fields they name.

Each question is a group of fields numbered by its place in the form (`text-0`, `aspect-0`,
...); an edit posts the whole form and gets it back changed, not saved, so nothing typed is
lost and no script is needed. A question keeps its `id` (hidden: the answers and the call
screen name a question by it); a question added here is given the first free `q<n>`. The form
carries the version it was made from (`base_version`, hidden): the service refuses the save
when another is in force by then (someone saved meanwhile)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from console.refusals import Reason
from console.wording import translate
from hospital_shared.questionnaires import MAX_QUESTIONS

PARTS = ("id", "aspect", "text", "text_en", "answer", "score", "required")
SHOWN = PARTS[1:]  # the id is hidden: an error naming it is shown beside the text
ANSWERS = ("scale", "text")


@dataclass
class Draft:
    """A questionnaire as the form holds it: its title and each question's fields as typed."""

    kind: str
    title: str
    questions: list[dict[str, str]]
    base_version: str = ""


def draft_of(questionnaire: dict[str, Any]) -> Draft:
    """The version in force as the form shows it, to edit into the next one."""
    questions = [
        {"id": q["id"], "aspect": q["aspect"], "text": q["text"], "text_en": q.get("text_en") or "",
         "answer": q["answer"], "score": "on" if q["score"] else "",
         "required": "on" if q["required"] else ""}
        for q in questionnaire["questions"]
    ]  # fmt: skip
    return Draft(questionnaire["kind"], questionnaire["title"], questions,
                 str(questionnaire["version"]))  # fmt: skip


def typed_draft(form: Any) -> Draft:
    """The form as posted: its questions in the order of their numbers (at most one more than
    a questionnaire holds: what is past it was never shown)."""
    places = sorted(
        int(key[len("text-"):]) for key in form.keys()
        if key.startswith("text-") and key[len("text-"):].isdigit() and len(key) < 12
    )  # fmt: skip
    questions = [
        {part: str(form.get(f"{part}-{n}") or "").strip() for part in PARTS}
        for n in places[: MAX_QUESTIONS + 1]
    ]
    return Draft(str(form.get("kind") or ""), str(form.get("title") or "").strip(), questions,
                 str(form.get("base_version") or "").strip())  # fmt: skip


def free_id(questions: list[dict[str, str]]) -> str:
    taken = {q["id"] for q in questions}
    return next(f"q{n}" for n in range(1, len(taken) + 2) if f"q{n}" not in taken)


def edited(draft: Draft, action: str) -> tuple[Draft, int | None]:
    """`draft` after the edit a button asked for (`add`, `up-<n>`, `down-<n>`,
    `remove-<n>`), and the place of the question it leaves in view (None: not an edit)."""
    questions = list(draft.questions)
    verb, _, number = action.partition("-")
    if verb == "add" and len(questions) < MAX_QUESTIONS:
        blank = {"id": free_id(questions), "aspect": "", "text": "", "text_en": "",
                 "answer": "scale", "score": "", "required": ""}  # fmt: skip
        return replace(draft, questions=[*questions, blank]), len(questions)
    if not number.isdigit() or int(number) >= len(questions):
        return draft, None
    n = int(number)
    if verb == "remove":
        del questions[n]
        return replace(draft, questions=questions), min(n, len(questions) - 1)
    to = n - 1 if verb == "up" else n + 1 if verb == "down" else -1
    if not 0 <= to < len(questions):
        return draft, n if verb in ("up", "down") else None
    questions[n], questions[to] = questions[to], questions[n]
    return replace(draft, questions=questions), to


def questionnaire_body(draft: Draft) -> tuple[dict[str, Any], dict[str, Any]]:
    """The draft as notifications' `QuestionnaireIn`, and the errors found before sending it:
    an aspect not chosen (the service's word for it lists every aspect's code), a score asked
    of a free-text question (the service would keep it, meaning nothing)."""
    errors: dict[str, Any] = {}
    for n, q in enumerate(draft.questions):
        if not q["aspect"]:
            errors[f"aspect-{n}"] = "required"
        if q["answer"] == "text" and q["score"]:
            errors[f"score-{n}"] = own_reason("qn.error.score_on_text")
    questions = [
        {"id": q["id"], "aspect": q["aspect"], "text": q["text"], "text_en": q["text_en"] or None,
         "answer": q["answer"], "score": q["score"] == "on", "required": q["required"] == "on"}
        for q in draft.questions
    ]  # fmt: skip
    body: dict[str, Any] = {"title": draft.title, "questions": questions}
    if draft.base_version.isdigit() and len(draft.base_version) < 10:
        body["base_version"] = int(draft.base_version)
    return body, errors


def own_reason(key: str) -> Reason:
    """The console's own refusal, in both languages from the catalogue."""
    return Reason(translate(key, "en"), translate(key, "zh"))


def errors_by_field(indexed: dict[str, Any], count: int) -> dict[str, Any]:
    """The service's errors by the form's field: `title`, `<part>-<n>` for a question's part (its field's name),
    `questions` for the list as a whole (none, too many, ids repeated)."""
    errors: dict[str, Any] = {}
    for place, reason in indexed.items():
        parts = place.split(".")
        if parts[0] == "questions" and len(parts) >= 3 and parts[1].isdigit():
            n, part = int(parts[1]), parts[2]
            field = f"{part if part in SHOWN else 'text'}-{n}" if n < count else "questions"
        else:
            field = "title" if parts[0] == "title" else "questions"
        errors.setdefault(field, reason)
    return errors
