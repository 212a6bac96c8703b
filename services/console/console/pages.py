"""Rendering pages: the Jinja2 environment, the message catalogue (zh-CN first, English),
times in the hospital's zone, and the pages for refusals, missing records and services that
did not answer.

Every string a person reads comes from `messages.json` (console/wording.py); the services'
refusals are shown in the page's language by `said` (console/refusals.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from console.departments import dept, dept_options
from console.navigation import navigation_for, settings_for
from console.refusals import said
from console.session import CSRF_FIELD
from console.wording import catalogue, label, system_note, translate
from hospital_shared import vocabulary

__all__ = ["catalogue", "error_page", "render", "translate"]
HERE = Path(__file__).resolve().parent

LANGUAGES = ("zh", "en")
LANG_COOKIE = "console_lang"


def local_path(path: str | None) -> str:
    """`path` as a return address when it is a path on this console, else `/`: never another
    site (an open redirect). Browsers drop tabs and newlines from an address and read `\\`
    as `/`, so a path holding a control character, or starting `//` once `\\` reads as `/`,
    is refused."""
    if not path or not path.startswith("/") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return "/"
    if path.replace("\\", "/").startswith("//"):
        return "/"
    return path


def came_from(request: Request) -> str | None:
    """The console page the browser came from, path and query (its `Referer`, which
    `Referrer-Policy: same-origin` sends to this site only), else None: the way back from an
    error page, and the page a form's POST was sent from. None for the start page too."""
    referer = urlsplit(request.headers.get("referer", ""))
    if not referer.path or referer.netloc != request.url.netloc:
        return None
    path = local_path(referer.path + (f"?{referer.query}" if referer.query else ""))
    return path if path != "/" else None  # the start page has its own link


def page_path(request: Request) -> str:
    """The page the language switch comes back to: this page's own address, or for a page
    answered to a form's POST (a step refused beside its form, an error page), the page the
    form was on: the POST's address answers no GET, and the switch to it showed a bare 405."""
    if request.method in ("GET", "HEAD"):
        return request.url.path
    return urlsplit(came_from(request) or "/").path  # as a GET's: no `?done=` shown again


def language_of(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    default: str = request.app.state.settings.default_language
    return default if default in LANGUAGES else "zh"


def local_time(value: Any, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An ISO 8601 instant (or datetime) as the hospital's wall-clock time; blank for none."""
    if value in (None, ""):
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        return moment.strftime(fmt)
    return moment.astimezone(ZoneInfo(tz)).strftime(fmt)


def build_templates(tz: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = lambda v, fmt="%Y-%m-%d %H:%M": local_time(v, tz, fmt)
    env.globals["CSRF_FIELD"] = CSRF_FIELD
    env.globals["settings_for"] = settings_for  # the settings screens' own menu
    env.globals["vocabulary"] = vocabulary  # the statuses' sets, spelt once (issue 18)
    env.globals["dept"] = dept  # a department code as its name (console/departments.py)
    env.globals["dept_options"] = dept_options
    env.filters["aside"] = aside
    env.filters["listed"] = listed
    return env


def aside(text: str, lang: str) -> Markup:
    """`text` in brackets after what it qualifies: full-width in Chinese, ` (...)` in English
    (a full-width bracket in an English sentence is a typo)."""
    return Markup("（{}）" if lang == "zh" else " ({})").format(text)


def names_of(roster: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Staff ids to the roster's names (the `person` macro's `names`), inactive members too:
    they still appear in cases' histories."""
    return {m["staff_id"]: m["name"] for m in roster if m.get("name")}


def listed(items: Iterable[str], lang: str) -> Markup:
    """`items` in a run: 甲、乙 in Chinese, `a, b` in English."""
    return Markup("、" if lang == "zh" else ", ").join(items)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """`template` with what every page needs: the language and its `t`, the session (when
    signed in), the navigation for its roles, the unread count of the inbox, and the department
    names last read (`dept(code)`; none yet: the codes are shown)."""
    lang = language_of(request)
    names = getattr(request.app.state, "departments", None)
    session = getattr(request.state, "session", None)
    env: Environment = request.app.state.templates
    page = env.get_template(template).render(
        request=request,
        lang=lang,
        t=lambda key: translate(key, lang),
        said=lambda value: said(value, lang),
        label=lambda kind, code: label(kind, code, lang),
        note=lambda text: system_note(text, lang),
        session=session,
        nav=navigation_for(session.roles if session else []),
        unread=getattr(request.state, "unread", None),
        path=request.url.path,
        here=page_path(request),
        came_from=came_from(request),
        department_names=names.by_code if names is not None else {},
        **context,
    )
    return HTMLResponse(page, status_code=status_code)


def error_page(request: Request, kind: str, status_code: int, **context: Any) -> HTMLResponse:
    return render(request, "errors/error.html", status_code, kind=kind, **context)
