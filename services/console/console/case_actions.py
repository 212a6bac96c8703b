"""What the case page's forms do, as data: each action names the complaints service's route
under `/v1/cases/{number}/` and the form fields its body takes. The service decides whether
the step is allowed (the transition table, who may take it); the page shows its reason when
it is refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from hospital_shared.bounds import whole_number


@dataclass(frozen=True)
class Field:
    name: str
    kind: str = "text"  # text (blank: left out) | required (sent even when blank) | yes_no


@dataclass(frozen=True)
class CaseAction:
    route: str
    fields: tuple[Field, ...]


# Every form of the case page carries the version of the case it showed (a hidden field): the
# service refuses the step (409) when the case has changed since, instead of applying it to a
# state the person never saw (an approval of a resolution replaced meanwhile).
VERSION = "expected_version"


ACTIONS: dict[str, CaseAction] = {
    # The lifecycle: the button pressed names the step (`to`); the note and the resolution
    # come with it when given (the service says which step needs which).
    "step": CaseAction(
        "transitions",
        (Field("to", "required"), Field("note"), Field("resolution"), Field("resolution_kind")),
    ),
    "note": CaseAction("notes", (Field("note", "required"),)),
    "assign": CaseAction("assignment", (Field("assignee_id", "required"),)),
    "satisfaction": CaseAction("satisfaction", (Field("rating", "required"), Field("comment"))),
    "validity": CaseAction("validity", (Field("founded", "yes_no"), Field("reason", "required"))),
    "escalation": CaseAction("escalation", (Field("reason", "required"),)),
    "imaging": CaseAction("imaging-confirmation", (Field("note"),)),
    # `record_key`: the form's one-time key (a uuid each time the page is shown), so a double
    # click or a resend records the measure once.
    "accountability": CaseAction(
        "accountability",
        (
            Field("staff_id", "required"),
            Field("measure", "required"),
            Field("detail"),
            Field("record_key"),
        ),
    ),
    "settlement": CaseAction(
        "settlement",
        (
            Field("amount", "required"),
            Field("signed_on", "required"),
            Field("document_ref", "required"),
        ),
    ),
    "confidentiality": CaseAction("confidentiality", (Field("level", "required"), Field("note"))),
}


def body_of(action: CaseAction, form: FormData) -> dict[str, Any]:
    """The JSON body of `action` from the posted form: blank optional fields are left out, a
    required one is sent as given (the service answers 422 naming it when it is wrong); the
    case version the form showed goes with every action."""
    body: dict[str, Any] = {}
    shown = form.get(VERSION)
    if isinstance(shown, str) and shown.strip():
        version = shown.strip()
        number = whole_number(version)  # "²" passed isdigit(), and int() failed: a 500
        body[VERSION] = number if number is not None else version
    for field in action.fields:
        raw = form.get(field.name)
        value = raw.strip() if isinstance(raw, str) else ""
        if field.kind == "yes_no":
            body[field.name] = value == "yes"
        elif value or field.kind == "required":
            body[field.name] = value
    return body
