"""The start page, the settings page (the screens of the data a hospital tunes, those the
person's roles may open: console/navigation.py `SETTINGS`) and the language switch."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from console.backend import Refused
from console.inbox import PageSession
from console.navigation import settings_for
from console.pages import LANG_COOKIE, LANGUAGES, local_path, render
from hospital_shared.http_guard import GuardedRoute

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)


@router.get("/")
async def start_page(request: Request, session: PageSession) -> HTMLResponse:
    return render(request, "home.html")


@router.get("/settings")
async def settings_page(request: Request, session: PageSession) -> HTMLResponse:
    items = settings_for(session.roles)
    if not items:
        raise Refused("the settings are kept by supervisors and operations")
    return render(request, "settings.html", items=items)


@router.get("/lang/{lang}")
async def choose_language(lang: str, next: str = "/") -> RedirectResponse:
    """A preference, not a change of anything staff work on: a GET that sets a cookie."""
    resp = RedirectResponse(local_path(next), status_code=303)
    if lang in LANGUAGES:
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return resp
