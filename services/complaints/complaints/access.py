"""Who may see and work which case, and what they see (pure).

Complaint information is confidential (DOMAIN.md): handlers see the cases assigned to them;
supervisors see their department's cases (the department concerned or the handling one) and
any case escalated to them; operations (admin) see every case. Only the people working a
case (its handler and its supervisor) see the patient's contact details unmasked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hospital_shared.http_api import masked_phone, wire_phone
from hospital_shared.logging import mask_name

STAFF_ROLES = frozenset({"agent", "doctor", "supervisor"})
HANDLER_ROLES = ("agent", "doctor")
# The director (院长/主任) is above the supervisors: reads every case, takes supervisor steps.
DIRECTOR = "director"
# Accountability (处罚直接责任者) names a member of staff and a measure: for these roles only.
ACCOUNTABILITY_READERS = frozenset({"supervisor", "admin", DIRECTOR})


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    role: str
    department: str | None = None


SYSTEM = Actor("system:complaints", "system")


def visibility(actor: Actor) -> dict[str, Any] | None:
    """The filter a list query applies for `actor`; None means every case."""
    if actor.role in ("admin", DIRECTOR):
        return None
    if actor.role == "supervisor":
        return {"staff_id": actor.id, "department": actor.department}
    return {"staff_id": actor.id}


def can_view(actor: Actor, case: Mapping[str, Any]) -> bool:
    if actor.role in ("admin", DIRECTOR):
        return True
    if actor.role not in STAFF_ROLES:
        return False
    if actor.id in (case["assignee_id"], case["supervisor_id"]):
        return True
    return (
        actor.role == "supervisor"
        and actor.department is not None
        and (actor.department in (case["department_code"], case["handling_department"]))
    )


def takes_supervisor_steps(actor: Actor) -> bool:
    """The transition table's supervisor-only steps: supervisors, the director, the system."""
    return actor.role in ("supervisor", "system", DIRECTOR)


def can_work(actor: Actor, case: Mapping[str, Any]) -> bool:
    """Move the case on: its handler, its supervisor, or a supervisor of its department."""
    return (actor.role in STAFF_ROLES or actor.role == DIRECTOR) and can_view(actor, case)


def is_working(actor: Actor, case: Mapping[str, Any]) -> bool:
    return actor.id in (case["assignee_id"], case["supervisor_id"], case.get("director_id"))


def can_read_text(actor: Actor, case: Mapping[str, Any]) -> bool:
    """The complaint's text, resolution and notes. A confidential case (保密) narrows them to
    the people working it and the director: a department supervisor who is not its
    supervisor, and operations, see its progress but not what it says."""
    if not can_view(actor, case):
        return False
    if case.get("confidentiality", "normal") == "normal":
        return True
    return actor.role == DIRECTOR or is_working(actor, case)


def can_read_accountability(actor: Actor, case: Mapping[str, Any]) -> bool:
    """Who was held responsible and how: supervisors, the director and operations only, never
    the handlers (a colleague may be the one named)."""
    return actor.role in ACCOUNTABILITY_READERS and can_view(actor, case)


def opening_key(actor: Actor, external_id: str) -> str:
    """The `external_id` a case opened through the API is stored under. A hospital system's
    id is its own (the same complaint may come by Kafka or by the API); a member of staff's is
    kept apart under their staff id, so that nobody at a desk can take a hospital system's
    next, guessable id first and have the real complaint dropped as a repeat."""
    if actor.role == "integration":
        return external_id
    return f"staff:{actor.id}:{external_id}"


def has_complainant(case: Mapping[str, Any]) -> bool:
    """Whether the case names who complained: a patient by id, or someone by name or phone
    (not an anonymous complaint)."""
    return bool(case["patient_id"] or case["patient_name"] or case["patient_phone"])


def contact_for(actor: Actor, case: Mapping[str, Any]) -> dict[str, Any]:
    """The patient's details as `actor` may see them."""
    unmasked = is_working(actor, case)
    name = case["patient_name"]
    phone = case["patient_phone"]
    return {
        "patient_id": case["patient_id"],
        "name": name if unmasked else (mask_name(name) if name else None),
        "phone": wire_phone(phone) if unmasked else masked_phone(phone),
        "sms_opt_out": case["sms_opt_out"],
        "masked": not unmasked,
    }
