"""The roster a page at a time, searched by id or name, and one member by id, on the real
follow-up service and PostgreSQL: the console's roster screen read only the first 500 members
(the list's default page), so a larger hospital's member beyond them could not be found."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from hospital_shared.auth import DEV_TOKENS
from tests.integration.services import running
from tests.integration.test_followup_service import auth

RUN = uuid.uuid4().hex[:6].upper()
DEPT = f"P{RUN}"
MEMBERS = [f"PG-{RUN}-{i:02d}" for i in range(7)]
TOKENS = {
    **{token: p.model_dump(mode="json") for token, p in DEV_TOKENS.items()},
    "t-sup": {"role": "supervisor", "staff_id": f"PS-{RUN}", "department": DEPT},
    "t-other-sup": {"role": "supervisor", "staff_id": f"PO-{RUN}", "department": "CS"},
}
ADMIN = auth("dev-admin-token")


@pytest.fixture(scope="module")
async def api(stack_config, stack_env) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """The follow-up service with DEPT's seven members (inactive: they take no work)."""
    with running(stack_config, "followup", {"AUTH_TOKENS": json.dumps(TOKENS)}) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
            for i, staff_id in enumerate(MEMBERS):
                name = "护士 100%_陈" if i == 5 else f"测试 {i}"
                body = {"name": name, "department_code": DEPT, "role": "agent",
                        "capacity": 0, "active": False}  # fmt: skip
                resp = await client.put(f"/v1/staff/{staff_id}", json=body, headers=ADMIN)
                assert resp.status_code == 200, resp.text
            yield client


async def test_the_roster_pages_follow_next_to_every_member_once(api: httpx.AsyncClient) -> None:
    seen: list[str] = []
    link: str | None = f"/v1/staff?department={DEPT}&limit=3"
    pages = 0
    while link:
        resp = await api.get(link, headers=ADMIN)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        assert len(page["items"]) <= 3 and page["limit"] == 3
        seen += [m["staff_id"] for m in page["items"]]
        link, pages = page["next"], pages + 1
    assert seen == MEMBERS and pages == 3


async def test_a_search_finds_members_by_part_of_their_id_or_name_in_any_case(
    api: httpx.AsyncClient,
) -> None:
    async def found(q: str, token: str = "dev-admin-token") -> list[str]:
        resp = await api.get("/v1/staff", params={"q": q}, headers=auth(token))
        assert resp.status_code == 200, resp.text
        return [m["staff_id"] for m in resp.json()["items"]]

    assert await found(f"pg-{RUN.lower()}-03") == [MEMBERS[3]]
    assert await found(f"{RUN}-0") == MEMBERS
    assert await found("100%_陈") == [MEMBERS[5]]  # % and _ are taken as they are
    assert await found("1%0") == []  # not "1, anything, 0"
    assert await found(f"PG-{RUN}-04", "t-sup") == [MEMBERS[4]]
    assert await found(f"PG-{RUN}-04", "t-other-sup") == []  # a supervisor's own department
    # A blank search is refused, naming it: it searched for nothing and answered everyone.
    blank = await api.get("/v1/staff", params={"q": "  "}, headers=ADMIN)
    assert blank.status_code == 422 and blank.json()["errors"][0]["location"] == ["query", "q"]


async def test_one_member_is_read_by_id_with_their_open_calls(api: httpx.AsyncClient) -> None:
    resp = await api.get(f"/v1/staff/{MEMBERS[6]}", headers=ADMIN)
    assert resp.status_code == 200, resp.text
    member = resp.json()
    assert (member["staff_id"], member["department_code"], member["active"]) == (
        MEMBERS[6], DEPT, False,
    )  # fmt: skip
    assert member["open_tasks"] == 0
    assert (await api.get(f"/v1/staff/NOBODY-{RUN}", headers=ADMIN)).status_code == 404
    assert (await api.get(f"/v1/staff/{MEMBERS[6]}", headers=auth("t-sup"))).status_code == 200
    other = await api.get(f"/v1/staff/{MEMBERS[6]}", headers=auth("t-other-sup"))
    assert other.status_code == 403


async def test_a_supervisor_is_answered_alike_for_another_departments_member_and_nobody(
    api: httpx.AsyncClient,
) -> None:
    """A 404 for an id not on the roster and a 403 for another department's member told a
    supervisor which of another department's staff ids exist; both are the same 403 now."""
    for suffix in ("", "/handback?role=agent&active=false"):
        theirs = await api.get(f"/v1/staff/{MEMBERS[6]}{suffix}", headers=auth("t-other-sup"))
        nobody = await api.get(f"/v1/staff/NOBODY-{RUN}{suffix}", headers=auth("t-other-sup"))
        assert (nobody.status_code, nobody.json()["detail"]) == (
            theirs.status_code, theirs.json()["detail"],
        ), suffix  # fmt: skip
        assert theirs.status_code == 403
        # operations are told there is nobody
        missing = await api.get(f"/v1/staff/NOBODY-{RUN}{suffix}", headers=ADMIN)
        assert missing.status_code == 404, suffix
