"""A year's days off and make-up working days (调休) as operations type or paste them, and back
(pure: no I/O). The State Council's notice (国务院办公厅关于节假日安排的通知) gives each holiday
as one item, e.g.

    二、春节：2月6日（星期六）至12日（星期五）放假调休，共7天。1月31日（星期日）、2月20日（星期六）上班。

so the form takes the notice's items as they are. Each date or range (至, 到, ~, ..) is
classified by the word that follows it in its clause (up to ， or ,; a sentence ends at 。 or
；): 放假 or 休 (or "off") makes it a day off, 上班 (or "work") a day worked, so
`1月31日、2月20日上班` lists two days worked and `5月1日至2日放假，4月25日上班` gives days of
both kinds. A date no such word follows in its clause, in a sentence that has one, is refused
(`UnruledLine`): `5月1日至2日，4月25日上班` could be read either way. Dates may be the notice's
(`2月6日`, `12日` in the month before it, `2026年12月31日`) or ISO (`2027-02-06`); what is in
brackets (the weekday, the lunar date) is ignored. A sentence in the notice's words counts only
when it says 放假, 休 or 上班, so the notice's introduction and its signature date may be pasted
too; a sentence of ISO dates with no such word gives days off. The service checks the rest (a
date outside the year, a weekday given as make-up day); `lines_giving` names the lines a date
it refuses came from.

`notice_text` writes a saved year back in that form (a run of days off as one range), so a
year is corrected by editing what it shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

_BRACKETS = re.compile(r"（[^）]*）|\([^)]*\)|【[^】]*】")
_SENTENCES = re.compile(r"[。；;\n]")
_CLAUSES = re.compile(r"[，,]")
_ISO = r"(?P<{p}iso>(?P<{p}iy>\d{{4}})-(?P<{p}im>\d{{1,2}})-(?P<{p}id>\d{{1,2}}))"
_ZH = r"(?P<{p}zh>(?:(?P<{p}y>\d{{4}})\s*年\s*)?(?:(?P<{p}m>\d{{1,2}})\s*月\s*)?(?P<{p}d>\d{{1,2}})\s*日)"
_DATE = "(?:" + _ISO + "|" + _ZH + ")"
_DAYS = re.compile(
    _DATE.format(p="a") + r"(?:\s*(?:至|到|~|～|\.\.|—|–)\s*" + _DATE.format(p="b") + ")?"
)
# 调休上班 is worked: the longer word first, so its 休 is not read as a day off
_WORDS = r"(?P<worked>(?:调休)?上班|\bwork)|(?P<off>放假|休|\boff\b)"
_RULED = re.compile(_WORDS, re.IGNORECASE)
_TOKENS = re.compile(_DAYS.pattern + "|" + _WORDS, re.IGNORECASE)
_ISO_DAY = re.compile(_ISO.format(p=""))
_MONTH = re.compile(r"\d\s*月")
MAX_SPAN = 31  # the longest run of days off a notice gives (a typo's range is refused)


class NoticeError(ValueError):
    """A line that cannot be read; `line` is its number (from 1), `text` the line."""

    def __init__(self, line: int, text: str, why: str) -> None:
        super().__init__(f"line {line}: {why}: {text}")
        self.line = line
        self.text = text
        self.why = why


class UnruledLine(NoticeError):
    """A line with a date that neither 放假 nor 上班 follows in its clause, where the line says
    one of them elsewhere: which the date is cannot be told. `day` is its first such date."""

    def __init__(self, line: int, text: str, day: date) -> None:
        super().__init__(line, text, f"{day.isoformat()}: neither 放假 nor 上班 follows it")
        self.day = day


@dataclass(frozen=True)
class NoticeDays:
    holidays: tuple[date, ...]
    workdays: tuple[date, ...]


@dataclass
class _Days:
    """A sentence's days as read: off, worked."""

    off: list[date] = field(default_factory=list)
    worked: list[date] = field(default_factory=list)


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


def _dates_of(match: re.Match[str], ctx: _Context) -> list[date]:
    first = _date(match, "a", ctx)
    ranged = match.group("bzh") or match.group("biso")
    return _span(first, _date(match, "b", ctx)) if ranged else [first]


def _clause_days(clause: str, ctx: _Context, found: _Days) -> list[date]:
    """Adds the clause's dates to `found` by the word following each; returns those no word
    follows."""
    waiting: list[date] = []
    for token in _TOKENS.finditer(clause):
        if token.group("worked"):
            found.worked += waiting
        elif token.group("off"):
            found.off += waiting
        else:
            waiting += _dates_of(token, ctx)
            continue
        waiting = []
    return waiting


def _sentence_days(sentence: str, ctx: _Context) -> _Days | None:
    """The sentence's days off and days worked, or None when it gives none: a
    sentence in the notice's words without 放假, 休 or 上班 (its introduction, its signature)."""
    ruled = bool(_RULED.search(sentence))
    if not ruled and not _ISO_DAY.search(sentence):
        return None
    found = _Days()
    unruled = [day for clause in _CLAUSES.split(sentence)
               for day in _clause_days(clause, ctx, found)]  # fmt: skip
    if unruled and ruled:
        raise _Unruled(unruled[0])
    found.off += unruled  # a sentence of ISO dates alone: days off
    if not (found.off or found.worked) and _MONTH.search(sentence):
        raise ValueError("no date read")  # 2月三十日: a date mistyped
    return found


class _Unruled(ValueError):
    def __init__(self, day: date) -> None:
        super().__init__(day.isoformat())
        self.day = day


def notice_days(text: str, year: int) -> NoticeDays:
    """The days off and make-up working days of `text` (a date without its year is in `year`),
    each once, in order; `NoticeError` names the first line that cannot be read, `UnruledLine`
    the first whose dates cannot be told apart."""
    holidays: set[date] = set()
    workdays: set[date] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        ctx = _Context(year)
        for sentence in _SENTENCES.split(_BRACKETS.sub("", line)):
            try:
                found = _sentence_days(sentence, ctx)
            except _Unruled as error:
                raise UnruledLine(number, line.strip(), error.day) from None
            except (ValueError, OverflowError) as error:  # date(): a year past 9999 overflows
                raise NoticeError(number, line.strip(), str(error)) from None
            if found is not None:
                holidays.update(found.off)
                workdays.update(found.worked)
    return NoticeDays(tuple(sorted(holidays)), tuple(sorted(workdays)))


def lines_giving(text: str, year: int, day: date) -> list[tuple[int, str]]:
    """The lines of `text` (number from 1, text) that give `day`, as off or worked: where a
    date the service refuses came from. `text` is one `notice_days` read."""
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if day in (found := notice_days(line, year)).holidays or day in found.workdays
    ]


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
