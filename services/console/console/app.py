"""Wiring of the console: settings, database (its sessions), the client of the services,
templates and static files, the screens' routers, and the pages for errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import (
    backchannel,
    calendar_years,
    calls,
    category_rules,
    complaint_form,
    department_directory,
    desk,
    enquiries,
    feedback,
    health,
    home,
    inbox,
    oidc,
    operations,
    patients,
    questionnaires,
    signin,
    sms_templates,
    staff,
    supervisor,
    worklist,
)
from console.backend import Backend, NotFound, Problem, Refused, Unavailable, problem_reason
from console.categories import OfferedCategories
from console.departments import DepartmentNames
from console.page_headers import PageHeaders
from console.pages import build_templates, error_page
from console.session import (
    LOGIN_PATH,
    CsrfRejected,
    SessionStore,
    SignInRequired,
    require_session,
)
from console.settings import Settings
from console.throttle import TooManySignIns
from hospital_shared import db, field_crypto, http_guard
from hospital_shared.background import Background
from hospital_shared.logging import configure_logging
from hospital_shared.release import RELEASE
from hospital_shared.secrets import refuse_dev_defaults

log = structlog.get_logger(__name__)
HERE = Path(__file__).resolve().parent
MIGRATIONS = HERE.parent / "migrations"
ROUTERS = [
    health.router,
    home.router,
    worklist.router,
    calls.router,
    patients.router,
    inbox.router,
    complaint_form.router,  # /cases/new before desk's /cases/{number}
    desk.router,
    enquiries.router,
    feedback.router,
    supervisor.router,
    staff.router,
    sms_templates.router,
    calendar_years.router,
    questionnaires.router,
    category_rules.router,
    department_directory.router,
    operations.router,
    signin.router,
    backchannel.router,
]


async def _open_pool(settings: Settings) -> asyncpg.Pool:
    """The pool, once PostgreSQL answers (it may start after the console), migrated."""
    delay = 0.2
    while True:
        try:
            pool = await db.create_pool(
                settings.database_url,
                schema=settings.db_schema,
                min_size=settings.db_pool_min,
                max_size=settings.db_pool_max,
            )
            break
        except db.TRANSIENT_DB_ERRORS as exc:
            log.warning("database not reachable yet", error=type(exc).__name__, retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    async with pool.acquire() as conn:
        await db.migrate(conn, schema=settings.db_schema, folders={"console": MIGRATIONS})
    return pool


class _Runtime:
    """What `hospital_shared.serving` stops when a signal comes during start-up: the pool,
    if it was opened by then."""

    name = "console"

    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()


def _background(app: FastAPI) -> Background:
    """The console's jobs, run and stopped by `hospital_shared.background` as the services'
    are (and named by `/readyz` when one has died): sessions left idle are deleted, not only
    when their cookie comes back."""
    jobs = Background("console")

    async def purge() -> int:
        purged: int = await app.state.sessions.purge_idle()
        return purged

    jobs.every(600, "session-purge", purge)
    return jobs


def _lifespan(settings: Settings):  # type: ignore[no-untyped-def]
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(
            service="console",
            level=settings.log_level,
            repeat_window_s=settings.log_repeat_window_s,
        )
        app.state.pool = app.state.runtime.pool = pool = await _open_pool(settings)
        app.state.sessions = SessionStore(
            pool, idle_s=settings.session_idle_s, max_s=settings.session_max_s
        )
        jobs: Background = app.state.background
        await jobs.start(pool)
        async with httpx.AsyncClient(timeout=settings.backend_timeout_s) as client:
            app.state.backend = Backend(settings.service_urls(), client)
            log.info("service started", http_port=settings.http_port)
            try:
                yield
            finally:
                await jobs.stop()
                await pool.close()

    return lifespan


def _install_error_pages(app: FastAPI) -> None:
    async def sign_in(request: Request, exc: Exception) -> RedirectResponse:
        assert isinstance(exc, SignInRequired)
        nxt = exc.next_path if exc.next_path != "/" else request.url.path
        # encoded whole: unencoded, everything after the address's first `&` was lost
        return RedirectResponse(f"{LOGIN_PATH}?{urlencode({'next': nxt})}", status_code=303)

    async def refused(request: Request, exc: Exception) -> HTMLResponse:
        return error_page(request, "refused", 403, reason=getattr(exc, "reason", ""))

    async def not_found(request: Request, exc: Exception) -> HTMLResponse:
        return error_page(request, "notfound", 404)

    async def unavailable(request: Request, exc: Exception) -> HTMLResponse:
        return error_page(request, "unavailable", 503, service=getattr(exc, "service", ""))

    async def csrf(request: Request, exc: Exception) -> HTMLResponse:
        return error_page(request, "csrf", 403)

    async def problem(request: Request, exc: Exception) -> HTMLResponse:
        # a service's 400/409/422 that no form shows beside its field: its status and reason
        assert isinstance(exc, Problem)
        return error_page(request, "problem", exc.status, reason=problem_reason(exc))

    async def too_many(request: Request, exc: Exception) -> HTMLResponse:
        assert isinstance(exc, TooManySignIns)
        page = error_page(request, "toomany", 429)
        page.headers["Retry-After"] = str(exc.retry_after_s)
        return page

    app.add_exception_handler(SignInRequired, sign_in)
    app.add_exception_handler(TooManySignIns, too_many)
    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(Unavailable, unavailable)
    app.add_exception_handler(CsrfRejected, csrf)
    app.add_exception_handler(Problem, problem)

    async def http_error(request: Request, exc: Exception) -> HTMLResponse:
        # an address no page answers (a stale bookmark, a form's POST address opened): a page
        # of the console, not the problem+json the services answer with
        assert isinstance(exc, StarletteHTTPException)
        with contextlib.suppress(SignInRequired, Unavailable):  # the menu, when signed in
            await require_session(request)
        kind = "nopage" if exc.status_code in (404, 405) else "problem"
        return error_page(request, kind, exc.status_code)

    app.add_exception_handler(StarletteHTTPException, http_error)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # Production refuses the public development secrets, as every service does (secrets.py).
    refuse_dev_defaults(settings, is_development=settings.development_stack)
    # It also refuses to start there without its client secret (console/oidc.py).
    oidc.refuse_public_client(settings, is_development=settings.development_stack)
    # The sessions' tokens are sealed with the services' keys (console/session.py).
    field_crypto.configure_from_settings(settings)
    # No /docs: Swagger UI would load its assets from a CDN, which hospital intranets lack.
    app = FastAPI(
        title="staff console",
        version=RELEASE,
        lifespan=_lifespan(settings),
        docs_url=None,
        redoc_url=None,
        max_body_size=settings.http_max_body_bytes,
    )
    app.state.settings = settings
    app.state.refresh_session = signin.refresh_session
    app.state.sign_in_buckets = {}  # console/throttle.py: per route, filled on first use
    app.state.runtime = _Runtime()
    app.state.background = _background(app)
    app.state.templates = build_templates(settings.hospital_tz)
    app.state.categories = (
        OfferedCategories()
    )  # the complaints service's, read at most a minute old
    app.state.departments = DepartmentNames()  # follow-up's directory, at most a minute old
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in ROUTERS:
        app.include_router(router)
    http_guard.install(app)
    _install_error_pages(app)
    app.add_middleware(PageHeaders)  # outermost of the app's own: its error pages' too
    return app
