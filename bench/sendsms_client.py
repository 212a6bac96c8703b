"""The CPU one `sendsms` request costs the client, apart from Kannel: httpx (the notifications
service's Kannel client, one shared client; or one client of one connection per request under
way, `httpx-per-slot`) against aiohttp, all against a local server that answers as smsbox
does (`202`, `0: Accepted for delivery`), with the parameters the service sends. The server
runs in its own process, so the client's process time is the client's alone.

`python -m bench.sendsms_client` (BENCH_SENDSMS_REQUESTS, BENCH_SENDSMS_AT_ONCE: 40 as the
dispatcher's slots, or a comma-separated list such as `1,10,20,40`; BENCH_SENDSMS_CLIENTS: a
comma-separated subset of service (the service's own provider, whatever it uses), httpx,
httpx-per-slot (the provider of session 15), aiohttp)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import httpx

from notifications.providers import Outcome, OutgoingSms
from notifications.providers.kannel import KannelProvider

PORT = 28999 + int(os.environ.get("BENCH_SENDSMS_PORT_SHIFT", "0"))
URL = f"http://127.0.0.1:{PORT}/cgi-bin/sendsms"
PARAMS = {
    "username": "hospital", "password": "hospital-dev", "from": "95000", "to": "+8613800138000",
    "text": "【市第一医院】您好,您的复诊时间为12月08日 09:30,心内科门诊三楼。退订回T",
    "charset": "UTF-8", "coding": "2", "dlr-mask": "19", "account": "0f0e6a4c",
    "dlr-url": "http://127.0.0.1:8004/v1/sms/dlr?id=0f0e6a4c&sig=ab12&status=%d&ts=%T&reply=%A",
}  # fmt: skip
ANSWER = (
    b"HTTP/1.1 202 Accepted\r\nContent-Length: 26\r\nContent-Type: text/plain\r\n\r\n"
    b"0: Accepted for delivery\r\n"
)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def serve() -> None:
    async def main() -> None:
        server = await asyncio.start_server(_answer, "127.0.0.1", PORT)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


async def _cpu_per_request(
    one: Callable[[], Coroutine[Any, Any, None]], n: int, at_once: int
) -> float:
    """CPU ms of this process per request, `at_once` under way, after 200 to warm up."""
    slots = asyncio.Semaphore(at_once)

    async def limited() -> None:
        async with slots:
            await one()

    await asyncio.gather(*(limited() for _ in range(200)))
    started = time.process_time()
    await asyncio.gather(*(limited() for _ in range(n)))
    return 1000 * (time.process_time() - started) / n


async def with_httpx(n: int, at_once: int) -> float:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=at_once)
    async with httpx.AsyncClient(limits=limits) as client:

        async def one() -> None:
            answer = await client.get(URL, params=PARAMS)
            assert answer.status_code == 202 and answer.text.startswith("0:")

        return await _cpu_per_request(one, n, at_once)


async def with_httpx_per_slot(n: int, at_once: int) -> float:
    """A free list of `at_once` clients of one kept-alive connection each: a request takes
    one and puts it back, so no pool holds more than one connection."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(limits=limits) for _ in range(at_once)]
    free = asyncio.Queue[httpx.AsyncClient]()
    for client in clients:
        free.put_nowait(client)

    async def one() -> None:
        client = free.get_nowait()  # never empty: `at_once` requests under way at most
        try:
            answer = await client.get(URL, params=PARAMS)
        finally:
            free.put_nowait(client)
        assert answer.status_code == 202 and answer.text.startswith("0:")

    try:
        return await _cpu_per_request(one, n, at_once)
    finally:
        for client in clients:
            await client.aclose()


async def with_aiohttp(n: int, at_once: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def one() -> None:
            async with session.get(URL, params=PARAMS) as answer:
                text = await answer.text()
                assert answer.status == 202 and text.startswith("0:")

        return await _cpu_per_request(one, n, at_once)


async def with_the_service(n: int, at_once: int) -> float:
    """The notifications service's own Kannel provider (its `send`, outcome included)."""
    provider = KannelProvider(
        url=URL, username=PARAMS["username"], password=PARAMS["password"],
        sender=PARAMS["from"], connections=max(at_once, 1),
    )  # fmt: skip
    sms = OutgoingSms(PARAMS["account"], PARAMS["to"], PARAMS["text"], "ucs2", PARAMS["dlr-url"])

    async def one() -> None:
        assert (await provider.send(sms)).outcome is Outcome.ACCEPTED

    try:
        return await _cpu_per_request(one, n, at_once)
    finally:
        await provider.aclose()


CLIENTS: dict[str, Callable[[int, int], Coroutine[Any, Any, float]]] = {
    "service": with_the_service,
    "httpx": with_httpx,
    "httpx-per-slot": with_httpx_per_slot,
    "aiohttp": with_aiohttp,
}


def main() -> None:
    n = int(os.environ.get("BENCH_SENDSMS_REQUESTS", "3000"))
    at_once = [int(a) for a in os.environ.get("BENCH_SENDSMS_AT_ONCE", "40").split(",")]
    clients = os.environ.get("BENCH_SENDSMS_CLIENTS", ",".join(CLIENTS)).split(",")
    server = multiprocessing.Process(target=serve, daemon=True)
    server.start()
    time.sleep(1)
    try:
        for concurrent in at_once:
            for client in clients * 2:
                ms = asyncio.run(CLIENTS[client](n, concurrent))
                print(f"{client}: {ms:.3f} ms CPU per request ({n}, {concurrent} at once)")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
