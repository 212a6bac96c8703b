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
from collections.abc import Callable, Iterable, Sequence
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


def _uncased(keyword: str) -> bool:
    """No letter of `keyword` has a case (Chinese): ignoring case changes nothing."""
    return all(c.lower() == c == c.upper() for c in keyword)


def matches(rule: CategoryRule, text: str) -> bool:
    return bool(rule.keyword.strip()) and _pattern(rule.keyword).search(text) is not None


class RuleSet:
    """The enabled rules in the order they are tried, each with its test prepared once: many
    complaints are classified against the same rules (a batch of events)."""

    def __init__(self, rules: Iterable[CategoryRule]) -> None:
        self.ordered = sorted((r for r in rules if r.enabled), key=lambda r: (r.position, r.id))
        # A keyword without cased letters (Chinese) is found by a substring test, what its
        # case-insensitive pattern would find. Such keywords are filed by their first
        # character: only those whose first character occurs in the text are tested.
        self._words: dict[str, list[tuple[int, CategoryRule, str]]] = {}
        # Other keywords are searched with their pattern; for an ASCII one, only when the
        # text, folded (`_folded`), has it in lower case: a match needs that, and the test
        # costs a twentieth of the pattern's search.
        self._patterns: list[tuple[int, CategoryRule, str, Callable[[str], object]]] = []
        first_letters: set[str] = set()
        for order, rule in enumerate(self.ordered):
            keyword = rule.keyword.strip()
            if not keyword:
                continue
            if _uncased(keyword) and not keyword.isascii():
                self._words.setdefault(keyword[0], []).append((order, rule, keyword))
            else:
                folded = keyword.lower() if keyword.isascii() else ""
                self._patterns.append((order, rule, folded, _pattern(rule.keyword).search))
                first_letters.add(keyword[0])
        self._first_chars = frozenset(self._words)
        # A pattern can only match where the text has its keyword's first letter (in either
        # case, as the pattern's own flags say): when no such letter is there (most Chinese
        # texts), no pattern is tried.
        letters = "".join(re.escape(c) for c in sorted(first_letters))
        self._may_match = re.compile(f"[{letters}]" if letters else "(?!)", re.IGNORECASE).search

    def hits(self, text: str) -> list[CategoryRule]:
        """The rules matching `text`, in order (the same as `matches` on each)."""
        found = [
            (order, rule)
            for first in self._first_chars.intersection(text)
            for order, rule, word in self._words[first]
            if word in text
        ]
        if self._may_match(text) is not None:
            folded = _folded(text)
            found.extend(
                (order, rule)
                for order, rule, word, search in self._patterns
                if word in folded and search(text)
            )
        found.sort(key=_first)
        return [rule for _, rule in found]


# The four non-ASCII letters Python's case-insensitive matching takes for ASCII ones (the
# `re` documentation): İ and ı for i, ſ for s, the Kelvin sign for k.
_LOOKALIKES = "\u0130\u0131\u017f\u212a"
_ASCII_LOOKALIKES = str.maketrans(_LOOKALIKES, "iisk")


def _folded(text: str) -> str:
    """`text` in lower case, its ASCII look-alikes replaced: wherever an ASCII keyword's
    case-insensitive pattern matches, this has the keyword in lower case."""
    if not text.isascii() and any(c in text for c in _LOOKALIKES):
        text = text.translate(_ASCII_LOOKALIKES)
    return text.lower()


def _first(pair: tuple[int, CategoryRule]) -> int:
    return pair[0]


def known_category(value: str | None) -> Category | None:
    if value is None:
        return None
    try:
        return Category(value.strip().lower())
    except ValueError:
        return None


def classify(
    text: str,
    rules: Iterable[CategoryRule] | RuleSet,
    *,
    submitted_category: str | None = None,
    serious_categories: Sequence[str] = (Category.MEDICAL_QUALITY.value,),
) -> Classification:
    """Decide the category (unless a known one was submitted) and whether the case is serious.

    A submitted category the hospital's vocabulary does not know (e.g. "服务态度" from an old
    HIS) is not lost: it is classified together with the text.
    """
    ruleset = rules if isinstance(rules, RuleSet) else RuleSet(rules)
    given = known_category(submitted_category)
    haystack = text if given or not submitted_category else f"{submitted_category} {text}"
    hits = ruleset.hits(haystack)
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
