"""Per-staff figures for the quarterly appraisal (考核周期每季度一次), as pure arithmetic.

For each staff member over a period: the follow-up calls they made (every attempt, reached or
not), the share that reached the patient, the patients' satisfaction in the calls they
completed, and the complaint cases they handled and how many of those kept their time limits
(a case whose first response is still running is pending, outside the rate).
The store counts; this module turns counts into the figures the appraisal reads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StaffCounts:
    """What the store counted for one staff member in a period."""

    staff_id: str
    calls: int = 0  # attempts made (reached or not)
    reached: int = 0
    rated: int = 0  # completed calls with a satisfaction answer
    satisfied: int = 0  # of those, satisfied or fairly satisfied
    scored: int = 0  # completed calls with a 1..5 score
    score_sum: int = 0
    cases: int = 0  # complaint cases handled, opened in the period, not withdrawn
    cases_in_time: int = 0  # of those, first response met and no time limit breached
    # of those, first response still running (not settled, not breached, not yet due)
    cases_pending: int = 0


@dataclass(frozen=True, slots=True)
class StaffFigures:
    staff_id: str
    calls_made: int
    calls_reached: int
    reach_rate: float | None
    satisfaction_answers: int
    satisfaction_rate: float | None  # satisfied or fairly satisfied, of the answers
    average_score: float | None  # mean of the 1..5 scores recorded
    cases_handled: int
    cases_in_time: int
    cases_pending: int  # first response still running: in neither count of the rate
    cases_in_time_rate: float | None  # of the matured cases (handled less pending)


def _share(part: int, whole: int) -> float | None:
    """part / whole rounded to 4 places; None (not 0) when there is nothing to divide."""
    return round(part / whole, 4) if whole else None


def figures_of(counts: StaffCounts) -> StaffFigures:
    """The appraisal figures of one staff member's counts."""
    return StaffFigures(
        staff_id=counts.staff_id,
        calls_made=counts.calls,
        calls_reached=counts.reached,
        reach_rate=_share(counts.reached, counts.calls),
        satisfaction_answers=counts.rated,
        satisfaction_rate=_share(counts.satisfied, counts.rated),
        average_score=round(counts.score_sum / counts.scored, 2) if counts.scored else None,
        cases_handled=counts.cases,
        cases_in_time=counts.cases_in_time,
        cases_pending=counts.cases_pending,
        cases_in_time_rate=_share(counts.cases_in_time, counts.cases - counts.cases_pending),
    )


def figures_by_staff(rows: list[StaffCounts]) -> list[StaffFigures]:
    """One line per staff member, ordered by staff id (stable for reports and tests)."""
    return [figures_of(c) for c in sorted(rows, key=lambda c: c.staff_id)]
