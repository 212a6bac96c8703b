"""What saving a member on the roster screen would hand back (staff.py asks first when it is
anything): their open follow-up calls, from follow-up, and their open complaint cases and
enquiries, handled and supervised, from complaints; each service counts by the rule its save
applies (`GET /v1/staff/{id}/handback?role=&active=&department=`: made inactive, all of it;
kept active with another role, what that role may not hold; moved to another department, what
they hold for a department no longer theirs). Before, the confirmation counted only the cases a
member handles, and a role or department change that took work away asked nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from console.backend import Backend, segment
from console.sections import Section, section
from console.session import Session

# What complaints counts, in the order the confirmation lists it.
COMPLAINT_WORK = ("cases_handled", "cases_supervised", "enquiries_owned", "enquiries_supervised")


@dataclass(frozen=True)
class HandingBack:
    """What a save of the member as `role`, `active`, would hand back. `complaints.data`: the
    counts of `COMPLAINT_WORK`, None when complaints refused or did not answer (the
    confirmation says it could not count them, and still works)."""

    role: str
    active: bool  # kept active: a role or department change; else a deactivation
    calls: int
    complaints: Section
    moved_to: str | None = None  # kept active and moved to this department
    role_changed: bool = False

    @property
    def why(self) -> str:
        """What the save is, as the catalogue's keys name it (`staff.<why>.*`): a deactivation,
        a role change, a move to another department, or both at once."""
        if not self.active:
            return "confirm"
        if self.moved_to is None:
            return "confirm_role"
        return "confirm_move" if self.role_changed else "confirm_dept"

    @property
    def anything(self) -> bool:
        """Whether there is something to hand back, or complaints could not say."""
        counts = self.complaints.data
        return bool(self.calls) or counts is None or any(counts.values())


async def handing_back(
    request: Request,
    session: Session,
    member: dict[str, Any],
    *,
    role: str,
    active: bool,
    department: str | None = None,
) -> HandingBack:
    """What saving `member` (as on the roster) as `role`, `active`, in `department` (None: the
    one they are in), would hand back now."""
    api: Backend = request.app.state.backend
    path = f"/v1/staff/{segment(member['staff_id'])}/handback"
    moved_to = (
        department if active and department not in (None, member["department_code"]) else None
    )
    params = {"role": role, "active": "true" if active else "false"}
    if moved_to is not None:
        params["department"] = moved_to
    calls: dict[str, Any] = await api.get(session, "followup", path, params=params)
    found = await section(api.get(session, "complaints", path, params=params))
    if found.data is not None:
        found.data = {k: int(found.data.get(k) or 0) for k in COMPLAINT_WORK}
    return HandingBack(role, active, int(calls.get("calls") or 0), found, moved_to,
                       role != member["role"])  # fmt: skip
