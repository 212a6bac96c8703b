"""Reading a whole paged list ({items, next, limit}) by following its `next` links: lists
that other tests share grow past any one page."""

from __future__ import annotations

from typing import Any

import httpx


async def every_item(
    client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        resp = await client.get(next_url, headers=headers)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        items += page["items"]
        next_url = page["next"]
    return items
