"""Kannel's record of a message, read from bearerbox's access log (lines as Kannel 1.4.5
writes them with the stack's `access-log-format`, and with its default format), and what
the Kannel provider sends so that the record names our message."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

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


async def test_kannel_is_given_our_message_id_as_the_account(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, text="0: Accepted for delivery")

    provider = KannelProvider(
        url="http://kannel/cgi-bin/sendsms", username="u", password="p", sender="95000",
        access_log=str(tmp_path / "access.log"), transport=httpx.MockTransport(answer),
    )  # fmt: skip
    await provider.send(OutgoingSms(SENT, "+8613900000001", "你好", "ucs2", "http://x/dlr"))
    await provider.aclose()
    assert seen[0].url.params["account"] == SENT
    (tmp_path / "access.log").write_text(_ours("Sent SMS", SENT) + "\n")
    assert await provider.lookup([SENT, ABSENT]) == {SENT: GatewayRecord.SENT}
    unset = KannelProvider(url="http://k", username="u", password="p", sender="1")
    assert await unset.lookup([SENT]) == {}


async def test_each_send_under_way_has_a_client_of_its_own_and_aclose_closes_them_all() -> None:
    """Two slots, three sends at once: two get a client each, the third the overflow client;
    the clients are reused afterwards, not made anew, and `aclose` closes every one."""
    arrived: list[httpx.Request] = []
    all_in = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        arrived.append(request)
        if len(arrived) == 3:
            all_in.set()
        await all_in.wait()
        return httpx.Response(202, text="0: Accepted for delivery")

    provider = KannelProvider(
        url="http://kannel/cgi-bin/sendsms", username="u", password="p", sender="95000",
        connections=2, transport=httpx.MockTransport(answer),
    )  # fmt: skip
    sms = OutgoingSms(SENT, "+8613900000001", "hello", "gsm7", "http://x/dlr")
    results = await asyncio.gather(*(provider.send(sms) for _ in range(3)))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert (await provider.send(sms)).outcome is Outcome.ACCEPTED
    clients = provider._clients
    made = list(clients._made)
    assert len(made) == 2 and sorted(map(id, clients._free)) == sorted(map(id, made))
    await provider.aclose()
    assert all(client.is_closed for client in (*made, clients._overflow))
