"""Classifying a complaint from its text with the hospital's editable keyword rules (pure).

Rules are data (the `category_rules` table, seeded with Chinese and English defaults and
edited through `/v1/category-rules`). They are tried in `position` order; the first enabled
rule whose keyword occurs in the text decides the category, and the case records which rule
that was. Independently, any matching rule flagged `serious` (e.g. 医疗事故) makes the case
serious, which sends it to a supervisor at once.

Chinese keywords match as substrings; keywords in Latin letters match case-insensitively at
the start of a word (`refund` matches "refunds", `CT` matches "做了CT" but not "doctor").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from complaints.domain import Category


@dataclass(frozen=True, slots=True)
class CategoryRule:
    id: int
    category: Category
    keyword: str
    serious: bool = False
    position: int = 100
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Classification:
    category: Category
    source: str  # submitted | rule | default
    rule_id: int | None = None
    keyword: str | None = None
    serious: bool = False
    serious_rule_id: int | None = None
    serious_keyword: str | None = None

    def explain(self) -> str:
        if self.source == "submitted":
            why = f"category {self.category.value} given by the submitter"
        elif self.source == "rule":
            why = f"rule #{self.rule_id} matched keyword {self.keyword!r}"
        else:
            why = f"no rule matched; defaulted to {self.category.value}"
        if self.serious_rule_id is not None:
            why += f"; serious: rule #{self.serious_rule_id} matched {self.serious_keyword!r}"
        elif self.serious:
            why += f"; serious: category {self.category.value} is always serious"
        return why


@lru_cache(maxsize=2048)
def _pattern(keyword: str) -> re.Pattern[str]:
    escaped = re.escape(keyword.strip())
    if keyword.strip().isascii():
        return re.compile(rf"(?<![A-Za-z]){escaped}", re.IGNORECASE)
    return re.compile(escaped, re.IGNORECASE)


def matches(rule: CategoryRule, text: str) -> bool:
    return bool(rule.keyword.strip()) and _pattern(rule.keyword).search(text) is not None


def known_category(value: str | None) -> Category | None:
    if value is None:
        return None
    try:
        return Category(value.strip().lower())
    except ValueError:
        return None


def classify(
    text: str,
    rules: Iterable[CategoryRule],
    *,
    submitted_category: str | None = None,
    serious_categories: Sequence[str] = (Category.MEDICAL_QUALITY.value,),
) -> Classification:
    """Decide the category (unless a known one was submitted) and whether the case is serious.

    A submitted category the hospital's vocabulary does not know (e.g. "服务态度" from an old
    HIS) is not lost: it is classified together with the text.
    """
    ordered = sorted((r for r in rules if r.enabled), key=lambda r: (r.position, r.id))
    given = known_category(submitted_category)
    haystack = text if given or not submitted_category else f"{submitted_category} {text}"
    hits = [r for r in ordered if matches(r, haystack)]
    serious_hit = next((r for r in hits if r.serious), None)
    if given is not None:
        category, source, first = given, "submitted", None
    elif hits:
        first = hits[0]
        category, source = first.category, "rule"
    else:
        category, source, first = Category.OTHER, "default", None
    serious = serious_hit is not None or category.value in serious_categories
    return Classification(
        category=category,
        source=source,
        rule_id=first.id if first else None,
        keyword=first.keyword if first else None,
        serious=serious,
        serious_rule_id=serious_hit.id if serious_hit else None,
        serious_keyword=serious_hit.keyword if serious_hit else None,
    )
