"""Which answers of a mail server or a group robot mean it is away (the note waits for it
until it expires, as an SMS waits for Kannel: retries.py) and which are errors it answered
(retried under the attempt cap, or refused). Against real local servers: aiosmtpd and an HTTP
server; a port nothing listens on for a server that is down."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from notifications.channels import RobotTarget, RobotWebhookSender, SmtpSender, StaffNote
from notifications.domain import Stop
from notifications.providers import Outcome, SendResult
from notifications.retries import RetryRules, after_not_taken
from tests.integration.capture_servers import RobotSink, free_port


class Answering:
    """An SMTP server answering MAIL FROM with `mail` and RCPT TO with `rcpt`."""

    def __init__(self, mail: str = "250 OK", rcpt: str = "250 OK") -> None:
        self.mail, self.rcpt = mail, rcpt

    async def handle_MAIL(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        envelope.mail_from = address
        return self.mail

    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        envelope.rcpt_tos.append(address)
        return self.rcpt

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        return "250 accepted"


@contextlib.contextmanager
def smtp_port(handler: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


async def email(port: int) -> SendResult:
    sender = SmtpSender(host="127.0.0.1", port=port, sender="n@hospital.example", timeout_s=2)
    return await sender.send(
        StaffNote("m1", "投诉超时", "案件TS-1超时", email="li@hospital.example")
    )


@pytest.mark.parametrize(
    ("mail", "rcpt", "outcome", "away"),
    [
        ("421 4.3.2 service not available, closing channel", "250 OK", Outcome.RETRY, True),
        ("451 4.3.0 local error, try again later", "250 OK", Outcome.RETRY, True),
        ("250 OK", "450 4.2.1 mailbox busy", Outcome.RETRY, True),
        ("250 OK", "550 5.1.1 no such user", Outcome.REJECTED, False),
        ("250 OK", "250 OK", Outcome.ACCEPTED, False),
    ],
)
async def test_a_temporary_smtp_answer_is_the_server_away(
    mail: str, rcpt: str, outcome: Outcome, away: bool
) -> None:
    with smtp_port(Answering(mail, rcpt)) as port:
        result = await email(port)
        assert (result.outcome, result.gateway_away) == (outcome, away), result.detail


async def test_a_mail_relay_nobody_answers_on_is_away() -> None:
    result = await email(free_port())
    assert (result.outcome, result.gateway_away) == (Outcome.RETRY, True)
    assert result.detail.startswith("SMTP server unreachable")


@pytest.fixture
def robot() -> Iterator[RobotSink]:
    sink = RobotSink().start()
    yield sink
    sink.stop()


async def post(url: str) -> SendResult:
    sender = RobotWebhookSender(timeout_s=2)
    try:
        return await sender.send(StaffNote("m1", "s", "t", robot=RobotTarget("wecom", url)))
    finally:
        await sender.aclose()


@pytest.mark.parametrize(
    ("status", "away"),
    [(503, True), (502, False), (504, False), (500, False), (429, False)],
)
async def test_a_robot_answering_503_is_away_a_proxys_502_or_504_is_not(
    robot: RobotSink, status: int, away: bool
) -> None:
    """A 502/504 comes from a proxy that may have passed the post on: under the cap."""
    robot.failing = status
    result = await post(f"{robot.url}/wecom/1?key=k")
    assert (result.outcome, result.gateway_away) == (Outcome.RETRY, away)


async def test_a_robot_nobody_answers_on_is_away() -> None:
    result = await post(f"http://127.0.0.1:{free_port()}/wecom/1?key=k")
    assert (result.outcome, result.gateway_away) == (Outcome.RETRY, True)


def test_a_note_without_expiry_is_failed_naming_its_server_once_the_wait_is_over() -> None:
    due = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    step = after_not_taken(
        attempts=290, answered_errors=0, gateway_away=True,
        detail="SMTP server unreachable: SMTPConnectError",
        due_at=due, expires_at=None, now=due + timedelta(hours=24),
        rules=RetryRules(gateway_wait=timedelta(hours=24)), server="email",
    )  # fmt: skip
    assert isinstance(step, Stop)
    assert step.reason.startswith("email unreachable for 24 h after the message fell due")
