"""What a patient merge (ADT^A40) does to the aliases a service keeps. Pure: no I/O.

Every service keeps `patient_aliases` (merged id -> surviving id). The rules:
- a merge of A into B moves A's rows to B and records A -> B;
- a chain (A into B, then B into C) ends with A -> C and B -> C: every alias points at a
  patient that was never merged, so one look-up maps any old id (no walking of chains);
- a merge into an id that was itself merged goes to where that id went (B was merged into
  C; A into B means A into C);
- a merge seen again (the same event redelivered, or the HIS resending it under a new
  control id) changes nothing: A already points at its survivor;
- A merged into B after A was merged into C (another survivor) is refused, as is a merge
  that would make a patient its own alias (B into A after A into B).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MergePlan:
    """Move `merged`'s rows to `surviving`; `repointed` aliases pointed at `merged`."""

    merged: str
    surviving: str
    repointed: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class AlreadyMerged:
    """The merge was applied before: nothing to do."""

    merged: str
    surviving: str


@dataclass(frozen=True, slots=True)
class MergeRefused:
    """A merge that cannot be applied, with the reason (for the NAK or the dead letter)."""

    reason: str


MergeOutcome = MergePlan | AlreadyMerged | MergeRefused


def current_id(aliases: Mapping[str, str], patient_id: str) -> str:
    """The id `patient_id` is known by now (itself unless it was merged)."""
    return aliases.get(patient_id, patient_id)


def plan_merge(aliases: Mapping[str, str], *, merged: str, surviving: str) -> MergeOutcome:
    """What merging `merged` into `surviving` does, given the aliases known so far (they
    must hold every alias of `merged`, `surviving`, and every alias pointing at `merged`)."""
    if merged == surviving:
        return MergeRefused("the merged and surviving patient ids are the same")
    target = current_id(aliases, surviving)
    if target == merged:
        return MergeRefused(f"the surviving id was itself merged into the merged id ({merged})")
    earlier = aliases.get(merged)
    if earlier is not None:
        if earlier == target:
            return AlreadyMerged(merged, target)
        return MergeRefused("the merged id was already merged into another patient")
    repointed = tuple(sorted(old for old, new in aliases.items() if new == merged))
    return MergePlan(merged, target, repointed)


def aliases_after(aliases: Mapping[str, str], plan: MergePlan) -> dict[str, str]:
    """The aliases once `plan` is applied (what the repository writes)."""
    after = {old: (plan.surviving if new == plan.merged else new) for old, new in aliases.items()}
    after[plan.merged] = plan.surviving
    return after
