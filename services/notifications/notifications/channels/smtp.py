"""Email over SMTP (aiosmtplib): one connection per message, plain-text UTF-8.

Outcomes: a failure to connect, log in or a 4xx answer means the server did not take the
message (RETRY); a 5xx answer or refused recipients are final (REJECTED); a connection lost
or a timeout after the data was sent may have delivered it (UNKNOWN: never re-sent).

The server is away (`SendResult.gateway_away`: the note waits for it until it expires,
notifications/retries.py) when it cannot be reached (refused, reset, timed out before the
message was sent) or answers a temporary 4xx (421 service not available, 451, 452...): SMTP's
own "try again later", which a mail relay answers while it is overloaded or going down. A 5xx
before sending (535, wrong credentials) can be fixed, so it is retried, under the attempt cap."""

from __future__ import annotations

import contextlib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from notifications.channels.base import StaffNote
from notifications.providers.base import Outcome, SendResult


class SmtpSender:
    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        security: str = "none",
        username: str = "",
        password: str = "",
        timeout_s: float = 10.0,
        validate_certs: bool = True,
    ) -> None:
        if security not in ("none", "starttls", "tls"):
            raise ValueError(f"smtp_security must be none, starttls or tls, not {security!r}")
        self._host, self._port, self._sender = host, port, sender
        self._security = security
        self._username, self._password = username, password
        self._timeout_s = timeout_s
        self._validate_certs = validate_certs

    def message(self, note: StaffNote) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self._sender
        msg["To"] = note.email or ""
        msg["Subject"] = note.subject
        msg["Date"] = formatdate(localtime=False)
        domain = self._sender.rpartition("@")[2] or "hospital.invalid"
        msg["Message-ID"] = make_msgid(idstring=note.message_id, domain=domain)
        msg["X-Notification-Id"] = note.message_id
        msg.set_content(note.text, charset="utf-8")
        return msg

    async def send(self, note: StaffNote) -> SendResult:
        if not note.email:
            return SendResult(Outcome.REJECTED, "no email address on file")
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            use_tls=self._security == "tls",
            start_tls=self._security == "starttls",
            timeout=self._timeout_s,
            validate_certs=self._validate_certs,
        )
        try:
            await client.connect()
            if self._username:
                await client.login(self._username, self._password)
        except aiosmtplib.SMTPResponseException as exc:
            detail = f"SMTP {exc.code} before sending: {exc.message}"
            return SendResult(Outcome.RETRY, detail, gateway_away=_temporary(exc.code))
        except (aiosmtplib.SMTPException, OSError) as exc:
            return _away(f"SMTP server unreachable: {type(exc).__name__}")
        try:
            _, answer = await client.send_message(self.message(note))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]  # 450 mailbox busy, 452 too many: not now
            if _temporary(refused.code):
                return _away(f"recipient deferred: {refused}")
            return SendResult(Outcome.REJECTED, f"recipient refused: {refused}")
        except aiosmtplib.SMTPResponseException as exc:
            if _temporary(exc.code):
                return _away(f"SMTP {exc.code}: {exc.message}")
            return SendResult(Outcome.REJECTED, f"SMTP {exc.code}: {exc.message}")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return SendResult(Outcome.UNKNOWN, f"SMTP connection lost: {type(exc).__name__}")
        finally:
            with contextlib.suppress(Exception):
                await client.quit()
        return SendResult(Outcome.ACCEPTED, answer[:200])

    async def aclose(self) -> None:
        return None


def _temporary(code: int) -> bool:
    """An SMTP answer that says "not now" (4xx), not "never" (5xx)."""
    return 400 <= code < 500


def _away(detail: str) -> SendResult:
    """Not taken because the server is away or says "not now": the note waits for it."""
    return SendResult(Outcome.RETRY, detail, gateway_away=True)
