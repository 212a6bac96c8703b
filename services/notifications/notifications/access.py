"""Who may read which message, and what of it (pure): the one rule behind every route of
`api.py` that answers with messages.

- A patient's message history, and their opt-outs (which say when and why they asked for no
  more SMS): supervisors and operations (admin) only. Anyone on staff may still record an
  opt-out the patient asks for on a call; reading them back is the history's rule. An agent or doctor
  calling a patient would have a reason while the call is on their worklist, but the worklist
  belongs to the follow-up service and this service cannot tell; a history that shows the
  patient complained, was discharged against advice or missed a visit is not for every
  member of staff.
- A staff member's notifications: their own, and anyone's for supervisors and operations.
- Every patient's and staff member's messages in a status (what waits for the gateway, what
  failed during an outage): supervisors and operations, as a patient's history.
- A message that reveals a complaint (its template is marked `reveals_complaint`: the
  patient's acknowledgement and outcome, the notes about a case, the digest that lists them)
  shows its template and text only to operations, to the staff member it was for, and to the
  supervisors of the complaint desk (`complaint_desk_department`): complaint information is
  limited by role (DOMAIN.md), and a ward supervisor may see a patient's reminders without
  learning that the patient complained. Anyone else sees a neutral kind
  (`patient_notice` / `staff_notice`), no text and no source event.
- Numbers are masked for everyone but operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hospital_shared.auth import Principal, Role
from hospital_shared.http_api import masked_phone
from notifications.templates import COMPLAINT_TEMPLATES

MANAGERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
OWN_NOTIFICATIONS_ONLY = "staff may only see their own notifications"
OWN_CHANNELS_ONLY = "staff may only change their own channels"
NEUTRAL_KIND = {"patient": "patient_notice", "staff": "staff_notice"}


def patient_history_refusal(who: Principal) -> str | None:
    """Why `who` may not read a patient's history (messages, opt-outs), or None when they may."""
    if who.role in MANAGERS:
        return None
    return "a patient's messages and opt-outs are for supervisors and operations"


def listing_refusal(who: Principal, *, patient_id: str | None, staff_id: str | None) -> str | None:
    """Why `who` may not list these messages (neither id: every recipient's), or None when
    they may."""
    if who.role in MANAGERS:
        return None
    if staff_id is None:
        return patient_history_refusal(who)
    if staff_id != who.staff_id:
        return OWN_NOTIFICATIONS_ONLY
    return None


def _is_recipient(who: Principal, message: Mapping[str, Any]) -> bool:
    return message["staff_id"] is not None and message["staff_id"] == who.staff_id


def may_read(who: Principal, message: Mapping[str, Any]) -> bool:
    """One message, by the listing's rule: a patient's for managers, a note for its recipient."""
    return who.role in MANAGERS or _is_recipient(who, message)


def read_refusal(who: Principal, message: Mapping[str, Any]) -> str | None:
    """Why `who` may not read this one message (`may_read`), or None when they may."""
    return None if may_read(who, message) else OWN_NOTIFICATIONS_ONLY


def channels_refusal(who: Principal, staff_id: str) -> str | None:
    """Why `who` may not read or change `staff_id`'s channels, or None: their own, or anyone's
    for supervisors and operations."""
    if who.staff_id == staff_id or who.role in MANAGERS:
        return None
    return OWN_CHANNELS_ONLY


def sees_complaint(who: Principal, message: Mapping[str, Any], *, desk_department: str) -> bool:
    if message["template"] not in COMPLAINT_TEMPLATES or who.role == Role.ADMIN:
        return True
    if _is_recipient(who, message):
        return True
    return who.role == Role.SUPERVISOR and who.department == desk_department


def message_view(
    message: Mapping[str, Any], who: Principal, *, desk_department: str
) -> dict[str, Any]:
    """A message as `who` may see it (they may read it: `may_read`)."""
    m = message
    view: dict[str, Any] = {
        "id": str(m["id"]),
        "template": m["template"],
        "audience": m["audience"],
        "channel": m["channel"],
        "patient_id": m["patient_id"],
        "staff_id": m["staff_id"],
        "status": m["status"],
        "status_reason": m["status_reason"],
        "urgent": m["urgent"],
        "encoding": m["encoding"],
        "segments": m["segments"],
        "attempts": m["attempts"],
        "answered_errors": m["answered_errors"],
        "last_error": m["last_error"],
        "due_at": m["due_at"],
        "deferred_reason": m["deferred_reason"],
        # when the message waits (deferred or retried): the time it is planned for
        "planned_for": m["send_after"] if m["status"] == "pending" else None,
        "expires_at": m["expires_at"],
        "submitted_at": m["submitted_at"],
        "delivered_at": m["delivered_at"],
        "finished_at": m["finished_at"],
        "read_at": m["read_at"],
        "created_at": m["created_at"],
        "resend_of": str(m["resend_of"]) if m["resend_of"] else None,
        "digest_id": str(m["digest_id"]) if m["digest_id"] else None,
        "to_address": m["to_address"],
        "source_event_id": m["source_event_id"],
        # what the message is about (`task:<id>`, `case:<number>`): the console links there
        "subject_ref": m["subject_ref"],
        "to_number": m["to_number"] if who.role == Role.ADMIN else masked_phone(m["to_number"]),
    }
    if not sees_complaint(who, m, desk_department=desk_department):
        kind = NEUTRAL_KIND.get(m["audience"], "notice")
        return view | {"template": kind, "source_event_id": None, "subject_ref": None}
    if may_read(who, m):
        view["body"] = m["body"]
    return view
