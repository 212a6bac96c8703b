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

from hospital_shared.logging import mask_name

STAFF_ROLES = frozenset({"agent", "doctor", "supervisor"})
HANDLER_ROLES = ("agent", "doctor")


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    role: str
    department: str | None = None


SYSTEM = Actor("system:complaints", "system")


def visibility(actor: Actor) -> dict[str, Any] | None:
    """The filter a list query applies for `actor`; None means every case."""
    if actor.role == "admin":
        return None
    if actor.role == "supervisor":
        return {"staff_id": actor.id, "department": actor.department}
    return {"staff_id": actor.id}


def can_view(actor: Actor, case: Mapping[str, Any]) -> bool:
    if actor.role == "admin":
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


def can_work(actor: Actor, case: Mapping[str, Any]) -> bool:
    """Move the case on: its handler, its supervisor, or a supervisor of its department."""
    return actor.role in STAFF_ROLES and can_view(actor, case)


def is_working(actor: Actor, case: Mapping[str, Any]) -> bool:
    return actor.id in (case["assignee_id"], case["supervisor_id"])


def opening_key(actor: Actor, external_id: str) -> str:
    """The `external_id` a case opened through the API is stored under. A hospital system's
    id is its own (the same complaint may come by Kafka or by the API); a member of staff's is
    kept apart under their staff id, so that nobody at a desk can take a hospital system's
    next, guessable id first and have the real complaint dropped as a repeat."""
    if actor.role == "integration":
        return external_id
    return f"staff:{actor.id}:{external_id}"


def mask_phone_number(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 7 else "****"


def contact_for(actor: Actor, case: Mapping[str, Any]) -> dict[str, Any]:
    """The patient's details as `actor` may see them."""
    unmasked = is_working(actor, case)
    name = case["patient_name"]
    phone = case["patient_phone"]
    return {
        "patient_id": case["patient_id"],
        "name": name if unmasked else (mask_name(name) if name else None),
        "phone": phone if unmasked else mask_phone_number(phone),
        "sms_opt_out": case["sms_opt_out"],
        "masked": not unmasked,
    }
