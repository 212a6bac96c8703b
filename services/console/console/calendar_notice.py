"""A year's days off and make-up working days (调休) as operations type or paste them, and back
(pure: no I/O). The State Council's notice (国务院办公厅关于节假日安排的通知) gives each holiday
as one item, e.g.

    二、春节：2月6日（星期六）至12日（星期五）放假调休，共7天。1月31日（星期日）、2月20日（星期六）上班。

so the form takes the notice's items as they are: in each sentence (up to 。 or ；) the dates
and ranges (至, 到, ~, ..) are days off, or worked when the sentence says 上班 (or "work").
Dates may be the notice's (`2月6日`, `12日` in the month before it, `2026年12月31日`) or ISO
(`2027-02-06`); what is in brackets (the weekday, the lunar date) is ignored. A sentence in
the notice's words counts only when it says 放假, 休 or 上班, so the notice's introduction and
its signature date may be pasted too; an ISO date always counts. The service checks the rest
(a date outside the year, a weekday given as make-up day).

`notice_text` writes a saved year back in that form (a run of days off as one range), so a
year is corrected by editing what it shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

_BRACKETS = re.compile(r"（[^）]*）|\([^)]*\)|【[^】]*】")
_SENTENCES = re.compile(r"[。；;\n]")
_ISO = r"(?P<{p}iso>(?P<{p}iy>\d{{4}})-(?P<{p}im>\d{{1,2}})-(?P<{p}id>\d{{1,2}}))"
_ZH = r"(?P<{p}zh>(?:(?P<{p}y>\d{{4}})\s*年\s*)?(?:(?P<{p}m>\d{{1,2}})\s*月\s*)?(?P<{p}d>\d{{1,2}})\s*日)"
_DATE = "(?:" + _ISO + "|" + _ZH + ")"
_DAYS = re.compile(
    _DATE.format(p="a") + r"(?:\s*(?:至|到|~|～|\.\.|—|–)\s*" + _DATE.format(p="b") + ")?"
)
_COUNTS = ("放假", "休", "上班")
_MONTH = re.compile(r"\d\s*月")
_WORKED = re.compile(r"上班|\bwork", re.IGNORECASE)
MAX_SPAN = 31  # the longest run of days off a notice gives (a typo's range is refused)


class NoticeError(ValueError):
    """A line that cannot be read; `line` is its number (from 1), `text` the line."""

    def __init__(self, line: int, text: str, why: str) -> None:
        super().__init__(f"line {line}: {why}: {text}")
        self.line = line
        self.text = text
        self.why = why


@dataclass(frozen=True)
class NoticeDays:
    holidays: tuple[date, ...]
    workdays: tuple[date, ...]


@dataclass
class _Context:
    """What a date of a line leaves out is the one before it's: `12日` after `2月6日`."""

    year: int
    month: int | None = None


def _date(match: re.Match[str], p: str, ctx: _Context) -> date:
    if match.group(f"{p}iso"):
        ctx.year, ctx.month = int(match.group(f"{p}iy")), int(match.group(f"{p}im"))
        return date(ctx.year, ctx.month, int(match.group(f"{p}id")))
    if match.group(f"{p}y"):
        ctx.year = int(match.group(f"{p}y"))
    if match.group(f"{p}m"):
        ctx.month = int(match.group(f"{p}m"))
    if ctx.month is None:
        raise ValueError("a day without its month")
    return date(ctx.year, ctx.month, int(match.group(f"{p}d")))


def _span(first: date, last: date) -> list[date]:
    if last < first:  # 12月31日至1月2日: the end is in the next year
        last = last.replace(year=last.year + 1)
    if (last - first).days >= MAX_SPAN:
        raise ValueError(f"a range of more than {MAX_SPAN} days")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _sentence_days(sentence: str, ctx: _Context) -> list[date]:
    days: list[date] = []
    for match in _DAYS.finditer(sentence):
        first = _date(match, "a", ctx)
        ranged = match.group("bzh") or match.group("biso")
        days += _span(first, _date(match, "b", ctx)) if ranged else [first]
    return days


def _counts(sentence: str) -> bool:
    return any(word in sentence for word in _COUNTS) or bool(re.search(_ISO.format(p=""), sentence))


def notice_days(text: str, year: int) -> NoticeDays:
    """The days off and make-up working days of `text` (a date without its year is in `year`),
    each once, in order; `NoticeError` names the first line that cannot be read."""
    holidays: set[date] = set()
    workdays: set[date] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        ctx = _Context(year)
        for sentence in _SENTENCES.split(_BRACKETS.sub("", line)):
            if not _counts(sentence):
                continue
            try:
                found = _sentence_days(sentence, ctx)
            except (ValueError, OverflowError) as error:  # date(): a year past 9999 overflows
                raise NoticeError(number, line.strip(), str(error)) from None
            if not found and _MONTH.search(sentence):  # 2月三十日: a date mistyped
                raise NoticeError(number, line.strip(), "no date read")
            (workdays if _WORKED.search(sentence) else holidays).update(found)
    return NoticeDays(tuple(sorted(holidays)), tuple(sorted(workdays)))


def runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) runs, in order."""
    found: list[tuple[date, date]] = []
    for day in sorted(days):
        if found and day - found[-1][1] == timedelta(days=1):
            found[-1] = (found[-1][0], day)
        else:
            found.append((day, day))
    return found


def notice_text(holidays: Iterable[date], workdays: Iterable[date]) -> str:
    """A year in the form `notice_days` reads: a line per run of days off, one per day worked,
    in date order."""
    lines = [
        (first, f"{first.isoformat()} 放假" if first == last
         else f"{first.isoformat()} 至 {last.isoformat()} 放假")
        for first, last in runs(holidays)
    ] + [(day, f"{day.isoformat()} 上班") for day in workdays]  # fmt: skip
    return "\n".join(text for _, text in sorted(lines))
