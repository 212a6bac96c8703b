"""What of a member's open work a roster change hands back, and why, as the records say it
(pure; `handback.py` and `enquiry_handback.py` do it, `handback_preview.py` counts it first).

Made inactive, a member hands back all of it; kept active with another role, the duties the
new role may not hold (`assignment.duties_given_up`), wherever that work is. Kept active and
moved to another department (`assignment.RosterChange.moved_to`), they keep their role's duties
but hand back the work they held for a department that is no longer theirs:

- a case they handle: a case is handled for a department (`handling_department`, whose staff
  `assign` chose them from; that department's supervisors see it and hear of its time limits).
  Moved away, the handler is no longer on that department's roster, nor would they be given
  the case now: it goes back to that department as a role change's does (its least-loaded
  handler, else the complaint desk's, else the supervisor; nobody: unassigned, for the
  supervisors). A case handled for the department they move to stays theirs.
- a case they supervise: its supervisor is its department's, else the desk's
  (`assignment.supervisor_for`); moved out of the department the case is handled for, another
  is chosen by that rule. When the case's department has no supervisor and they moved into the
  desk, the rule chooses them again: nothing changes and nothing is written.
- an enquiry (咨询) they own: first-contact responsibility makes its taker answer for it, but
  for the department answering it (`owner_department`, theirs when they took it): its
  supervisors see it and hear of its time limit, and the patient was promised an answer from
  there within 24 or 48 hours. A move on the roster is the hospital handing the member to
  another department, so what they answer for the old one is handed over as a colleague's
  hand-over would (its staff, the supervisor that owner brings). One the new department
  answers stays theirs.
- an enquiry they supervise: its supervisor is looked for in the department asked about, the
  owner's, the desk (`enquiry_handback.supervising_departments`); unless they moved into the
  first of those, another is chosen by that rule (maybe them again, as for a case).

A change of role and of department at once hands back the role's part first (its reasons),
then by department what the new role keeps (`RosterChange.kept`)."""

from __future__ import annotations

from dataclasses import dataclass

from complaints.assignment import EVERY_DUTY, Duty, RosterChange
from hospital_shared.vocabulary import SystemNote

# Why a case changed hands: (someone active took it over, nobody could).
Notes = tuple[SystemNote, SystemNote]
DEACTIVATED: Notes = (SystemNote.HANDLER_DEACTIVATED, SystemNote.NOBODY_TO_TAKE_OVER)
REOPENED: Notes = (SystemNote.REOPENED_WITHOUT_HANDLER, SystemNote.REOPENED_NOBODY_TO_TAKE_OVER)
SUPERVISOR_GONE: Notes = (SystemNote.SUPERVISOR_INACTIVE, SystemNote.NO_SUPERVISOR_TO_TAKE_OVER)
ROLE_CHANGED: Notes = (SystemNote.HANDLER_ROLE_CHANGED, SystemNote.NOBODY_TO_TAKE_OVER_ROLE_CHANGED)
SUPERVISOR_ROLE_CHANGED: Notes = (
    SystemNote.SUPERVISOR_ROLE_CHANGED,
    SystemNote.NO_SUPERVISOR_ROLE_CHANGED,
)
DEPARTMENT_CHANGED: Notes = (
    SystemNote.HANDLER_DEPARTMENT_CHANGED,
    SystemNote.NOBODY_TO_TAKE_OVER_DEPARTMENT_CHANGED,
)
SUPERVISOR_DEPARTMENT_CHANGED: Notes = (
    SystemNote.SUPERVISOR_DEPARTMENT_CHANGED,
    SystemNote.NO_SUPERVISOR_DEPARTMENT_CHANGED,
)


@dataclass(frozen=True, slots=True)
class GivenUp:
    """What a roster change takes from a member (`assignment.duties_given_up`) and why, as the
    audit says it: they were made inactive, their new role may not hold it, or (`moved_to`) it
    is not the department's they move to."""

    duties: frozenset[Duty]
    handler: Notes = DEACTIVATED
    supervisor: Notes = SUPERVISOR_GONE
    moved_to: str | None = None

    @classmethod
    def by(cls, duties: frozenset[Duty], *, active: bool) -> GivenUp:
        if active:
            return cls(duties, ROLE_CHANGED, SUPERVISOR_ROLE_CHANGED)
        return cls(duties)

    @classmethod
    def moved(cls, change: RosterChange) -> GivenUp:
        """The part of a move to another department: what the member keeps, by department."""
        return cls(change.kept, DEPARTMENT_CHANGED, SUPERVISOR_DEPARTMENT_CHANGED, change.moved_to)

    def flags(self) -> tuple[bool, bool]:
        """(their handled work goes, their supervised work goes)."""
        return Duty.HANDLE in self.duties, Duty.SUPERVISE in self.duties

    def leaves(self, department: str | None) -> bool:
        """Whether work held for `department` goes: always, unless this is a move and it is the
        department they move to."""
        return self.moved_to is None or department != self.moved_to

    def holds(
        self,
        staff_id: str,
        *,
        holder: str | None,
        supervisor: str | None,
        held_for: str | None,
        supervised_for: str | None,
    ) -> tuple[bool, bool]:
        """Of a piece of work handled (by `holder`) for `held_for` and supervised (by
        `supervisor`) for `supervised_for`, whether `staff_id`, giving up this, gives up its
        handling and its supervision."""
        handled, supervised = self.flags()
        return (
            holder == staff_id and handled and self.leaves(held_for),
            supervisor == staff_id and supervised and self.leaves(supervised_for),
        )


DEACTIVATION = GivenUp(EVERY_DUTY)


def given_up_by(change: RosterChange, *, active: bool) -> list[GivenUp]:
    """The hand-backs a roster change makes, in order: the duties it takes, then a move's."""
    parts = [GivenUp.by(change.given_up, active=active)] if change.given_up else []
    if change.moved_to is not None:
        parts.append(GivenUp.moved(change))
    return parts
