"""Kannel's record of a message, read from bearerbox's access log (lines as Kannel 1.4.5
writes them with the stack's `access-log-format`, and with its default format), and what
the Kannel provider sends so that the record names our message."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from notifications.providers import GatewayRecord, Outcome, OutgoingSms
from notifications.providers.kannel import KannelProvider
from notifications.providers.kannel_log import find_in_access_log, rotated_and_current

SENT, REFUSED, PARTS, ABSENT, OTHER = (str(uuid.uuid4()) for _ in range(5))


def _ours(event: str, account: str) -> str:
    return (
        f"2026-12-05 00:13:46 {event} [SMSC:fake] [SVC:hospital] [ACT:{account}] "
        f"[ID:{uuid.uuid4()}] [FID:] [flags:2:31] [len:24:0]"
    )


def _default(event: str, account: str) -> str:
    return (
        f"2026-12-05 00:13:09 {event} [SMSC:fake] [SVC:hospital] [ACT:{account}] [BINF:] "
        "[FID:] [META:] [from:95000] [to:+8613900000001] [flags:-1:0:-1:-1:31] "
        "[msg:11:hello there] [udh:0:]"
    )


def test_sent_refused_and_absent_messages_are_told_apart(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        "\n".join(
            [
                "2026-12-05 00:12:36 Log begins",
                _ours("Sent SMS", SENT),
                _ours("Receive DLR", ""),
                _ours("FAILED Send SMS", REFUSED),
                _ours("REJECTED - not white-listed SMS", OTHER),
                # a message in two parts: one failed, one went: the patient has part of it
                _ours("FAILED Send SMS", PARTS),
                _default("Sent SMS", PARTS),
            ]
        )
        + "\n"
    )
    found = find_in_access_log([log], [SENT, REFUSED, PARTS, ABSENT])
    assert found == {
        SENT: GatewayRecord.SENT,
        REFUSED: GatewayRecord.REFUSED,
        PARTS: GatewayRecord.SENT,
    }
    assert find_in_access_log([log], [OTHER]) == {OTHER: GatewayRecord.REFUSED}


def test_the_rotated_log_is_read_too_and_missing_files_are_no_record(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    Path(f"{path}.1").write_text(_ours("Sent SMS", SENT) + "\n")
    path.write_text("")
    assert rotated_and_current(str(path)) == [Path(f"{path}.1"), path]
    assert find_in_access_log(rotated_and_current(str(path)), [SENT]) == {SENT: GatewayRecord.SENT}
    assert find_in_access_log(rotated_and_current(str(tmp_path / "none.log")), [SENT]) == {}


def test_an_id_is_matched_whole_never_as_a_prefix(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(_ours("Sent SMS", SENT + "-resend") + "\n")
    assert find_in_access_log([log], [SENT]) == {}


class Smsbox:
    """A local HTTP server answering `sendsms` as smsbox does (`answer` picks the reply),
    keeping each request's query as received."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.answer: tuple[int, str] = (202, "0: Accepted for delivery")
        self.drop = False  # close the connection without an answer
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _sendsms(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(dict(request.query))
        if self.drop:
            assert request.transport is not None
            request.transport.close()
        status, text = self.answer
        return web.Response(status=status, text=text)

    async def __aenter__(self) -> Smsbox:
        app = web.Application()
        app.router.add_get("/cgi-bin/sendsms", self._sendsms)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/cgi-bin/sendsms"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def _provider(url: str, **kwargs: Any) -> KannelProvider:
    return KannelProvider(url=url, username="u", password="p", sender="95000", **kwargs)


async def test_kannel_is_given_our_message_id_as_the_account(tmp_path: Path) -> None:
    async with Smsbox() as smsbox:
        provider = _provider(smsbox.url, access_log=str(tmp_path / "access.log"))
        receipt = "http://x/v1/sms/dlr?id=1&sig=2&status=%d&ts=%T&reply=%A"
        await provider.send(OutgoingSms(SENT, "+8613900000001", "你好 +1", "ucs2", receipt))
        await provider.aclose()
    [query] = smsbox.seen
    assert query["account"] == SENT
    # every value arrives whole: the dlr-url's own query and Kannel's %-codes, the +, the text
    assert query["dlr-url"] == receipt
    assert (query["to"], query["text"], query["coding"]) == ("+8613900000001", "你好 +1", "2")
    (tmp_path / "access.log").write_text(_ours("Sent SMS", SENT) + "\n")
    assert await provider.lookup([SENT, ABSENT]) == {SENT: GatewayRecord.SENT}
    unset = KannelProvider(url="http://k", username="u", password="p", sender="1")
    assert await unset.lookup([SENT]) == {}


async def test_the_gateways_answers_and_failures_map_to_outcomes() -> None:
    """What the dispatcher does next hangs on these: RETRY only when smsbox certainly did not
    take the SMS (no connection; a refusal that can be fixed), UNKNOWN when it may have."""
    sms = OutgoingSms(SENT, "+8613900000001", "hello", "gsm7", "http://x/dlr")
    async with Smsbox() as smsbox:
        provider = _provider(smsbox.url, connections=2)
        cases = [
            ((202, "0: Accepted for delivery"), Outcome.ACCEPTED),
            ((200, "3: Queued for later delivery"), Outcome.ACCEPTED),
            ((400, "Missing receiver number"), Outcome.REJECTED),
            ((403, "Authorization failed for sendsms"), Outcome.RETRY),
            ((503, "Sending failed."), Outcome.RETRY),
            # `immediate-sendsms-reply`: taken, and sending it again would be a second SMS
            ((202, "Sent."), Outcome.ACCEPTED),
            # a number no SMSC of the gateway takes: retrying it is eight refusals
            ((403, "Not routable. Do not try again."), Outcome.REJECTED),
        ]
        for answer, outcome in cases:
            smsbox.answer = answer
            assert (await provider.send(sms)).outcome is outcome, answer
        # sends at once beyond the connections wait for one, they are not refused
        smsbox.answer = (202, "0: Accepted for delivery")
        results = await asyncio.gather(*(provider.send(sms) for _ in range(5)))
        assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 5
        smsbox.drop = True  # the request reached smsbox, the answer never came
        before = len(smsbox.seen)
        dropped = await provider.send(sms)
        assert dropped.outcome is Outcome.UNKNOWN, dropped
        assert len(smsbox.seen) == before + 1  # not sent again: it may be a second SMS
        url = smsbox.url
        await provider.aclose()
    gone = _provider(url)  # nothing listens any more
    refused = await gone.send(sms)
    await gone.aclose()
    assert refused.outcome is Outcome.RETRY and "unreachable" in refused.detail
