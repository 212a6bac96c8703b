"""Saving a member on the real follow-up service and PostgreSQL (`PUT /v1/staff/{id}`): an
add that named an id already on the roster overwrote that member, two edits of one member lost
the first, an id with `/` was answered with a redirect, and look-alike ids (zero-width space,
full-width letters, spaces, `..`) and phones that are not phones were all taken."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from hospital_shared.auth import DEV_TOKENS
from tests.integration.services import running
from tests.integration.test_followup_service import auth

RUN = uuid.uuid4().hex[:6].upper()
DEPT = f"V{RUN}"
TOKENS = {token: p.model_dump(mode="json") for token, p in DEV_TOKENS.items()}
ADMIN = auth("dev-admin-token")


def body(name: str = "测试 张三", **more: Any) -> dict[str, Any]:
    # inactive: the members take no work from the rest of the suite
    return {"name": name, "department_code": DEPT, "role": "agent", "capacity": 5,
            "active": False, **more}  # fmt: skip


@pytest.fixture(scope="module")
async def api(stack_config, stack_env) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    with running(stack_config, "followup", {"AUTH_TOKENS": json.dumps(TOKENS)}) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
            yield client


@pytest.fixture(scope="module")
async def db(stack_env: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack_env["DATABASE_URL"])
    yield conn
    await conn.close()


async def test_an_add_of_an_id_on_the_roster_is_refused_and_the_member_kept(
    api: httpx.AsyncClient,
) -> None:
    staff_id = f"A-{RUN}"
    first = await api.put(f"/v1/staff/{staff_id}", json=body(expected_version=0), headers=ADMIN)
    assert first.status_code == 200, first.text
    assert first.json()["member"]["version"] == 1
    again = await api.put(
        f"/v1/staff/{staff_id}", json=body("新人 李四", capacity=3, expected_version=0),
        headers=ADMIN,
    )  # fmt: skip
    assert again.status_code == 409, again.text
    assert again.json()["current_version"] == 1
    assert f"{staff_id} is already on the roster" in again.json()["detail"]
    member = (await api.get(f"/v1/staff/{staff_id}", headers=ADMIN)).json()
    assert (member["name"], member["capacity"], member["version"]) == ("测试 张三", 5, 1)


async def test_an_edit_of_a_member_changed_since_it_was_read_is_refused(
    api: httpx.AsyncClient,
) -> None:
    """Two tabs read version 1; the first saves (version 2), the second is refused and the
    first's change stays. Without a version the save applies as before."""
    staff_id = f"E-{RUN}"
    await api.put(f"/v1/staff/{staff_id}", json=body(), headers=ADMIN)
    tab_one = await api.put(
        f"/v1/staff/{staff_id}", json=body("第一个", expected_version=1), headers=ADMIN
    )
    assert tab_one.status_code == 200 and tab_one.json()["member"]["version"] == 2
    tab_two = await api.put(
        f"/v1/staff/{staff_id}", json=body("第二个", expected_version=1), headers=ADMIN
    )
    assert tab_two.status_code == 409, tab_two.text
    assert tab_two.json()["current_version"] == 2
    member = (await api.get(f"/v1/staff/{staff_id}", headers=ADMIN)).json()
    assert (member["name"], member["version"]) == ("第一个", 2)
    unchanged = await api.put(f"/v1/staff/{staff_id}", json=body("第一个"), headers=ADMIN)
    assert unchanged.json()["changed"] is False and unchanged.json()["member"]["version"] == 2


async def test_an_id_with_a_slash_is_refused_when_read_and_when_saved(
    api: httpx.AsyncClient,
) -> None:
    """Read, it is refused as a save refuses it (it was a 404: reads did not check ids)."""
    for path in ("/v1/staff/%2F", "/v1/staff/S%2FNEW"):
        read = await api.get(path, headers=ADMIN)
        assert read.status_code == 422, (path, read.status_code, read.headers)
        assert read.json()["errors"][0]["location"] == ["path", "staff_id"]
    saved = await api.put("/v1/staff/S%2FNEW", json=body(), headers=ADMIN)
    assert saved.status_code == 422, saved.text
    assert saved.json()["errors"][0]["location"] == ["path", "staff_id"]


@pytest.mark.parametrize(
    "raw", ["S-AGENT-01\u200b", "S NEW 01", "%2E%2E", "%2E", "S%09NEW", "张三"]
)
async def test_a_new_id_that_is_not_visible_ascii_is_refused(
    api: httpx.AsyncClient, raw: str
) -> None:
    saved = await api.put(f"/v1/staff/{raw}", json=body(), headers=ADMIN)
    assert saved.status_code == 422, (raw, saved.text)
    assert saved.json()["errors"][0]["location"] == ["path", "staff_id"]


async def test_a_full_width_id_is_saved_as_its_ascii_and_names_that_member(
    api: httpx.AsyncClient,
) -> None:
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in f"W-{RUN}")
    saved = await api.put(f"/v1/staff/{wide}", json=body(expected_version=0), headers=ADMIN)
    assert saved.status_code == 200, saved.text
    assert saved.json()["member"]["staff_id"] == f"W-{RUN}"
    again = await api.put(f"/v1/staff/{wide}", json=body(expected_version=0), headers=ADMIN)
    assert again.status_code == 409  # the same member, not a look-alike second one


async def test_a_phone_is_stored_in_e164_and_one_that_is_not_a_phone_is_refused(
    api: httpx.AsyncClient,
) -> None:
    staff_id = f"P-{RUN}"
    bad = await api.put(f"/v1/staff/{staff_id}", json=body(phone="138😀"), headers=ADMIN)
    assert bad.status_code == 422, bad.text
    assert bad.json()["errors"][0]["location"] == ["body", "phone"]
    assert (await api.get(f"/v1/staff/{staff_id}", headers=ADMIN)).status_code == 404
    good = await api.put(f"/v1/staff/{staff_id}", json=body(phone="139 1111 2222"), headers=ADMIN)
    assert good.status_code == 200, good.text
    assert good.json()["member"]["phone"] == "+8613911112222"


async def test_a_member_added_before_the_rules_is_read_and_edited_by_the_id_they_have(
    api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """A zero-width space in their id, a phone that is not one: they are still found, and an
    edit that sends their phone back unchanged is saved (the roster keeps it as it was)."""
    staff_id = f"OLD-{RUN}\u200b"
    await db.execute(
        "INSERT INTO followup.staff (staff_id, name, department_code, role, capacity, phone,"
        " active) VALUES ($1, '老员工', $2, 'agent', 5, '138😀', false)",
        staff_id, DEPT,
    )  # fmt: skip
    read = await api.get(f"/v1/staff/{staff_id}", headers=ADMIN)
    assert read.status_code == 200, read.text
    assert (read.json()["phone"], read.json()["version"]) == ("138😀", 1)
    edit = body("老员工 改", phone="138😀", expected_version=1)
    saved = await api.put(f"/v1/staff/{staff_id}", json=edit, headers=ADMIN)
    assert saved.status_code == 200, saved.text
    member = saved.json()["member"]
    assert (member["staff_id"], member["name"], member["phone"]) == (staff_id, "老员工 改", "138😀")
    other = await api.put(f"/v1/staff/{staff_id}", json=body(phone="138x"), headers=ADMIN)
    assert other.status_code == 422 and other.json()["errors"][0]["location"] == ["body", "phone"]
