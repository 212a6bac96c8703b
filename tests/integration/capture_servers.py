"""Real local servers that capture what the notifications service sends staff: an SMTP server
(aiosmtpd) and an HTTP server standing in for WeCom / DingTalk group robots."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SmtpSink:
    """aiosmtpd on a local port; `.messages` are the parsed emails, `.envelopes` the
    (mail from, recipients) of each."""

    port: int = field(default_factory=free_port)
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def send_json(handler: BaseHTTPRequestHandler, answer: Any) -> None:
    """Answer the request `handler` holds with `answer` as JSON, 200."""
    body = json.dumps(answer).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        return None


class _Served:
    """A ThreadingHTTPServer with `handler` on a free local port, at `.url`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Self:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ApiStandIn(_Served):
    """A service's API standing in for it: answers every GET with `answer` (JSON) and keeps
    each request's path and Authorization header (`.requests`)."""

    def __init__(self, answer: Any) -> None:
        self.requests: list[tuple[str, str]] = []
        sink = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                sink.requests.append((self.path, self.headers.get("Authorization", "")))
                send_json(self, answer)

        super().__init__(Handler)


@dataclass
class RobotPost:
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any]


class RobotSink(_Served):
    """A group robot: answers every POST {"errcode": 0, "errmsg": "ok"} and keeps it. With
    `failing` set to an HTTP status (503: unavailable), it answers that instead, keeps
    nothing and counts the refused posts (`.refused`)."""

    def __init__(self) -> None:
        self.posts: list[RobotPost] = []
        self.failing: int | None = None
        self.refused = 0
        sink = self

        class Handler(_Quiet):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if sink.failing is not None:
                    sink.refused += 1
                    self.send_response(sink.failing)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                url = urlsplit(self.path)
                sink.posts.append(RobotPost(url.path, parse_qs(url.query), body))
                send_json(self, {"errcode": 0, "errmsg": "ok"})

        super().__init__(Handler)

    def at(self, path: str) -> list[RobotPost]:
        return [p for p in self.posts if p.path == path]
