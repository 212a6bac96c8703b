"""The department directory on the real follow-up service and PostgreSQL (`GET` and
`PUT /v1/departments/{code}`): the names the console shows for department codes, which no
service kept. Every member of staff reads them, only operations save them, a save carries the
version it read, and a new code is held to the code syntax."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hospital_shared.auth import DEV_TOKENS
from tests.integration.services import running
from tests.integration.test_followup_service import auth

RUN = uuid.uuid4().hex[:6].upper()
TOKENS = {token: p.model_dump(mode="json") for token, p in DEV_TOKENS.items()}
ADMIN = auth("dev-admin-token")


@pytest.fixture(scope="module")
async def api(stack_config, stack_env) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    with running(stack_config, "followup", {"AUTH_TOKENS": json.dumps(TOKENS)}) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
            yield client


async def directory(api: httpx.AsyncClient, token: str = "dev-admin-token") -> dict[str, Any]:
    answer = await api.get("/v1/departments", headers=auth(token))
    assert answer.status_code == 200, answer.text
    return {d["code"]: d for d in answer.json()["items"]}


def names(zh: str, en: str | None = None, **more: Any) -> dict[str, Any]:
    return {"name_zh": zh, "name_en": en, **more}


async def test_the_test_stack_is_seeded_with_the_codes_its_data_uses(
    api: httpx.AsyncClient,
) -> None:
    seeded = await directory(api)
    assert seeded["CARD"]["name_zh"] == "心内科"
    assert seeded["CARD"]["name_en"] == "Cardiology"
    assert {"CS", "ORTH", "PED", "RAD", "ADM"} <= seeded.keys()


async def test_operations_add_and_rename_a_department_that_every_member_of_staff_reads(
    api: httpx.AsyncClient,
) -> None:
    code = f"D{RUN}"
    added = await api.put(
        f"/v1/departments/{code}", json=names("康复科", "Rehabilitation", expected_version=0),
        headers=ADMIN,
    )  # fmt: skip
    assert added.status_code == 200, added.text
    assert added.json()["department"]["version"] == 1
    renamed = await api.put(
        f"/v1/departments/{code}", json=names("康复医学科", expected_version=1), headers=ADMIN
    )
    assert renamed.status_code == 200, renamed.text
    for token in ("dev-agent-token", "dev-doctor-token", "dev-supervisor-token"):
        seen = (await directory(api, token))[code]
        assert (seen["name_zh"], seen["name_en"], seen["version"]) == ("康复医学科", None, 2)


async def test_only_operations_save_and_hospital_systems_read_nothing(
    api: httpx.AsyncClient,
) -> None:
    for token in ("dev-agent-token", "dev-supervisor-token"):
        refused = await api.put(f"/v1/departments/S{RUN}", json=names("某科"), headers=auth(token))
        assert refused.status_code == 403, (token, refused.text)
    assert (
        await api.get("/v1/departments", headers=auth("dev-integration-token"))
    ).status_code == 403
    assert f"S{RUN}" not in await directory(api)


async def test_a_save_of_a_stale_version_or_an_add_of_a_code_taken_is_refused(
    api: httpx.AsyncClient,
) -> None:
    code = f"V{RUN}"
    await api.put(f"/v1/departments/{code}", json=names("甲科"), headers=ADMIN)
    first_tab = await api.put(
        f"/v1/departments/{code}", json=names("乙科", expected_version=1), headers=ADMIN
    )
    assert first_tab.status_code == 200
    second_tab = await api.put(
        f"/v1/departments/{code}", json=names("丙科", expected_version=1), headers=ADMIN
    )
    assert second_tab.status_code == 409, second_tab.text
    assert second_tab.json()["current_version"] == 2
    again = await api.put(
        f"/v1/departments/{code}", json=names("丁科", expected_version=0), headers=ADMIN
    )
    assert again.status_code == 409 and "already in the directory" in again.json()["detail"]
    assert (await directory(api))[code]["name_zh"] == "乙科"


@pytest.mark.parametrize("raw", ["CARD\u200b", "A B", "A%2FB", "-X", "心内", "X" * 33, "%2E%2E"])
async def test_a_code_that_is_not_ascii_letters_and_digits_is_refused_naming_it(
    api: httpx.AsyncClient, raw: str
) -> None:
    saved = await api.put(f"/v1/departments/{raw}", json=names("某科"), headers=ADMIN)
    assert saved.status_code == 422, (raw, saved.text)
    assert saved.json()["errors"][0]["location"] == ["path", "code"]


async def test_a_full_width_code_is_saved_as_its_ascii_and_a_blank_name_is_refused(
    api: httpx.AsyncClient,
) -> None:
    wide = "".join(chr(ord(c) + 0xFEE0) for c in f"W{RUN}")
    saved = await api.put(f"/v1/departments/{wide}", json=names("某科"), headers=ADMIN)
    assert saved.status_code == 200, saved.text
    assert saved.json()["department"]["code"] == f"W{RUN}"
    blank = await api.put(f"/v1/departments/W{RUN}", json=names("  "), headers=ADMIN)
    assert blank.status_code == 422, blank.text
    assert blank.json()["errors"][0]["location"] == ["body", "name_zh"]
