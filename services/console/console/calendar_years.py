"""The working-day calendar's screen (工作日历): the years of the State Council's holidays and
make-up working days (调休) the complaints service counts complaint time limits by, which
operations added with hand-made `PUT /v1/calendar/years/{year}` calls.

Operations (admin) read the years (`GET /v1/calendar/years`, with the years open cases were
counted Monday to Friday for, `missing_years`), a year as a month grid and a list of its runs
of days off and its days worked (`GET /v1/calendar/years/{year}`), and enter or correct a year
through that same PUT with their token: the notice's items pasted as they are
(console/calendar_notice.py reads them; a saved year is shown back in that form to correct).
The service decides what is valid (a date outside the year, a weekday given as make-up day, a
day both off and worked): its refusal is shown beside the field, the text kept, a refused
date named with the pasted line it came from. A save redirects to the year's page
(`?year=<y>&saved=1`, POST-redirect-GET). The service lets only operations read the calendar,
so only they have the menu entry; anyone else is refused."""

from __future__ import annotations

import calendar
import re
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.backend import Backend, NotFound, Problem, Refused
from console.calendar_notice import (
    NoticeError,
    UnruledLine,
    lines_giving,
    notice_days,
    notice_text,
    runs,
)
from console.inbox import PageSession
from console.pages import render
from console.refusals import Reason, field_reason
from console.session import CheckedForm, CurrentSession, Session
from console.wording import translate
from hospital_shared.bounds import whole_number
from hospital_shared.http_guard import GuardedRoute
from hospital_shared.working_calendar import FIRST_YEAR, LAST_YEAR

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)
FIELDS = ("year", "days", "source", "notice")
BODY_FIELDS = {"holidays": "days", "workdays": "days", "source": "source", "notice": "notice",
               "year": "year"}  # fmt: skip
REASON = "工作日历维护"
YEAR_RANGE = f"must be between {FIRST_YEAR} and {LAST_YEAR}"  # the service's words for it
_WEEKS = calendar.Calendar(firstweekday=0)
_ISO_DAY = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def _backend(request: Request) -> Backend:
    found: Backend = request.app.state.backend
    return found


def month_grid(year: int, holidays: set[date], workdays: set[date]) -> list[dict[str, Any]]:
    """The year's months, Monday first: each day `off` (a day of a holiday), `work` (a weekend
    day worked), `weekend` or `''`; days of the months beside as None."""

    def kind(day: date) -> str:
        if day in holidays:
            return "off"
        if day in workdays:
            return "work"
        return "weekend" if day.weekday() >= calendar.SATURDAY else ""

    return [
        {"month": month, "weeks": [
            [(day, kind(day)) if day.month == month else None for day in week]
            for week in _WEEKS.monthdatescalendar(year, month)
        ]}
        for month in range(1, 13)
    ]  # fmt: skip


def year_view(found: dict[str, Any]) -> dict[str, Any]:
    """A year as the service answers it, with its month grid and its dated list: each run of
    days off (first, last, days) and each day worked, in order."""
    holidays = {date.fromisoformat(d) for d in found["holidays"]}
    workdays = {date.fromisoformat(d) for d in found["workdays"]}
    dated = [{"first": a, "last": b, "days": (b - a).days + 1, "kind": "off"}
             for a, b in runs(holidays)]  # fmt: skip
    dated += [{"first": d, "last": d, "days": 1, "kind": "work"} for d in workdays]
    return {
        **found,
        "months": month_grid(found["year"], holidays, workdays),
        "dated": sorted(dated, key=lambda r: r["first"]),
    }


async def _year(request: Request, session: Session, year: int) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = await _backend(request).get(
            session, "complaints", f"/v1/calendar/years/{year}", reason=REASON
        )
    except NotFound:
        return None
    return found


def _typed_of(year: int, found: dict[str, Any] | None) -> dict[str, str]:
    """The form for `year`: its saved days, source and notice to correct, or empty."""
    if found is None:
        return {"year": str(year) if year else "", "days": "", "source": "", "notice": ""}
    days = notice_text(
        [date.fromisoformat(d) for d in found["holidays"]],
        [date.fromisoformat(d) for d in found["workdays"]],
    )
    return {"year": str(year), "days": days, "source": found["source"], "notice": found["notice"]}


async def _page(
    request: Request, session: Session, shown: int | None, status: int = 200, **more: Any
) -> HTMLResponse:
    """The years, the years missing, `shown` as grid and list (else the newest year), and the
    form when `more` has `typed`."""
    years = await _backend(request).get(session, "complaints", "/v1/calendar/years",
                                        reason=REASON)  # fmt: skip
    known = [y["year"] for y in years["years"]]
    year = shown if shown in known else (known[-1] if known else None)
    found = await _year(request, session, year) if year is not None else None
    return render(
        request, "calendar/page.html", status, years=list(reversed(years["years"])),
        missing=years["missing_years"], shown=year_view(found) if found else None,
        errors=more.pop("errors", {}), **more,
    )  # fmt: skip


def _year_of(text: str) -> int | None:
    """A year the calendar holds (the service's `FIRST_YEAR` to `LAST_YEAR`), else None: "²"
    passed `isdigit()` and failed `int()`, and a year 99999999999 reached `date()` (both 500s)."""
    year = whole_number(text.strip(), 4)
    return year if year is not None and FIRST_YEAR <= year <= LAST_YEAR else None


def _asked_year(text: str) -> int | None:
    """The year a link names (`?year=`, `?edit=`): None when blank; one the calendar cannot hold
    is refused naming `year` (422), as the service refuses it."""
    if not text.strip():
        return None
    year = _year_of(text)
    if year is None:
        raise Problem(422, "", {"year": field_reason("", YEAR_RANGE)})
    return year


@router.get("/calendar")
async def calendar_page(
    request: Request, session: PageSession, year: str = "", edit: str = "", saved: str = ""
) -> HTMLResponse:
    """The years; with `year`, that one's grid; with `edit` (a year, or `new`), the form for
    it; with `saved=1` (where a save redirects) the message that it was saved."""
    shown = _asked_year(year)
    more: dict[str, Any] = {"saved": shown if saved == "1" else None}
    editing = None if edit == "new" else _asked_year(edit)
    if edit == "new" or editing is not None:
        found = await _year(request, session, editing) if editing is not None else None
        more["typed"] = _typed_of(editing or 0, found)
    return await _page(request, session, shown or editing, **more)


def notice_error(error: NoticeError) -> Reason:
    """The console's own refusal of a line it cannot read, or whose dates it cannot tell off
    from worked, in both languages."""
    key, more = "cal.line_unread", {"day": ""}
    if isinstance(error, UnruledLine):
        key, more = "cal.line_unruled", {"day": error.day.isoformat()}
    en, zh = (translate(key, lang).format(line=error.line, text=error.text, **more)
              for lang in ("en", "zh"))  # fmt: skip
    return Reason(en, zh)


def from_lines(reason: Any, text: str, year: int) -> Any:
    """The service's refusal of a date (`2027-02-08 is not a weekend day`) prefixed with the
    pasted lines that gave it: the service knows only dates, and a weekday read as a make-up
    day is a line misread or mistyped. Other refusals as they are."""
    found = _ISO_DAY.search(str(reason))
    given = lines_giving(text, year, date.fromisoformat(found.group())) if found else []
    if not given:
        return reason
    zh_reason = reason.zh if isinstance(reason, Reason) else str(reason)
    en, zh = (
        translate("cal.from_lines", lang).format(
            lines=translate("cal.line_separator", lang).join(
                translate("cal.from_line", lang).format(line=n, text=t) for n, t in given
            ),
            reason=zh_reason if lang == "zh" else str(reason),
        )
        for lang in ("en", "zh")
    )
    return Reason(en, zh)


def year_body(typed: dict[str, str]) -> tuple[int | None, dict[str, Any], dict[str, Any]]:
    """The form as the service's `PUT /v1/calendar/years/{year}`: the year, the body, and the
    errors found before sending it (a year that is no number, a line that is no date)."""
    year = _year_of(typed["year"])
    if year is None and whole_number(typed["year"].strip()) is not None:
        return None, {}, {"year": field_reason("", YEAR_RANGE)}  # 2150, 99999999999
    if year is None:
        return None, {}, {"year": "invalid" if typed["year"] else "required"}
    try:
        days = notice_days(typed["days"], year)
    except NoticeError as error:
        return year, {}, {"days": notice_error(error)}
    body = {"holidays": [d.isoformat() for d in days.holidays],
            "workdays": [d.isoformat() for d in days.workdays],
            "source": typed["source"], "notice": typed["notice"]}  # fmt: skip
    return year, body, {}


def _typed(form: Any) -> dict[str, str]:
    typed = {name: str(form.get(name) or "") for name in FIELDS}
    return typed | {"days": typed["days"].replace("\r\n", "\n")}


def _errors_of(exc: Problem) -> tuple[dict[str, Any], Any]:
    errors: dict[str, Any] = {}
    for place, reason in exc.fields.items():
        errors.setdefault(BODY_FIELDS.get(place, "days"), reason)
    return errors, exc.message


@router.post("/calendar")
async def save_year(request: Request, session: CurrentSession, form: CheckedForm) -> Response:
    """Add or replace one year; to its page saying so, or the form again as typed with the
    service's (or the console's) reason beside its field."""
    typed = _typed(form)
    year, body, errors = year_body(typed)
    if errors or year is None:
        return await _page(request, session, year, 422, typed=typed, errors=errors)
    try:
        await _backend(request).call(session, "complaints", "PUT", f"/v1/calendar/years/{year}",
                                     json=body, reason=REASON)  # fmt: skip
    except Refused as exc:
        return await _page(request, session, year, 403, typed=typed, message=exc.reason)
    except Problem as exc:
        errors, message = _errors_of(exc)
        if "days" in errors:
            errors["days"] = from_lines(errors["days"], typed["days"], year)
        return await _page(request, session, year, exc.status, typed=typed, errors=errors,
                           message=message)  # fmt: skip
    return RedirectResponse(f"/calendar?year={year}&saved=1#cal-saved", status_code=303)
