"""The headers of every console answer but its static files, set in one place so that no
route can forget them: the pages show patients' data, on ward PCs that staff share.

- `Cache-Control: no-store`: after sign-out, Back showed the last patient's page from the
  browser's cache;
- `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`: no other site frames a page
  (clickjacking a "take" or a step on a case);
- `Referrer-Policy: same-origin`: a page's address (a patient id, a search) never goes to
  another site; `X-Content-Type-Options: nosniff`.

The CSP is no stricter than the pages allow: the printable report's print button is an
inline `onclick` (no `script-src` without 'unsafe-inline'), and `POST /logout` redirects to the
provider's end-session address (Chromium applies `form-action` to a form's redirects). The
survey page's headers (notifications/survey_api.py) are the model. Static files (the style
sheet, countdown.js) stay cacheable.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = "/static/"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'; base-uri 'self'; object-src 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


class PageHeaders:
    """ASGI middleware: `HEADERS` on every answer outside `/static/`, unless it set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(STATIC):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)
