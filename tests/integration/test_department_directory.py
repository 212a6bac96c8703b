"""The department directory on the real follow-up service and PostgreSQL (`GET` and
`PUT /v1/departments/{code}`): the names the console shows for department codes, which no
service kept. Every member of staff reads them, only operations save them, a save carries the
version it read, and a new code is held to the code syntax; a code the hospital's systems send
is named from its first discharge."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hospital_shared import topics
from hospital_shared.auth import DEV_TOKENS
from tests.factories import discharge, to_bytes
from tests.integration.services import running
from tests.integration.test_followup_service import auth, consumed_up_to_here
from tests.kafka_tools import eventually, publish

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


async def test_a_department_is_named_from_the_first_discharge_that_names_it_and_never_renamed(
    api: httpx.AsyncClient, stack_env: dict[str, str]
) -> None:
    """The directory learns a code it lacks with the name the hospital's systems send beside
    it (a discharge's or visit's `department`): the console names it from its first patient.
    A code it has keeps its name (the seed's CARD, a rename by operations), and a code a save
    would not take is left out. One patient's events, one partition: in this order."""
    n = uuid.uuid4().int % 10**8
    new, odd = f"H{RUN}", f"H {RUN}"

    def naming(code: str, name: str, k: int) -> dict[str, Any]:
        return discharge(n, admission_id=f"A{n}-{k}", department={"code": code, "name": name})

    await publish(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], topics.DISCHARGES,
        [(f"P{n:06d}", to_bytes(e)) for e in (naming("CARD", "心脏科", 1), naming(odd, "怪科", 2),
                                              naming(new, "康复医学科", 3))],
    )  # fmt: skip

    async def learned() -> dict[str, Any] | None:
        return (await directory(api)).get(new)

    entry = await eventually(learned, timeout=60)
    assert (entry["name_zh"], entry["name_en"], entry["version"]) == ("康复医学科", None, 1)
    known = await directory(api)
    assert known["CARD"]["name_zh"] == "心内科" and odd not in known
    renamed = await api.put(
        f"/v1/departments/{new}", json=names("康复科", "Rehabilitation", expected_version=1),
        headers=ADMIN,
    )  # fmt: skip
    assert renamed.status_code == 200, renamed.text
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    await publish(
        bootstrap, topics.DISCHARGES, [(f"P{n:06d}", to_bytes(naming(new, "康复医学科", 4)))]
    )
    await consumed_up_to_here(bootstrap, topics.DISCHARGES, f"P{n:06d}")
    assert (await directory(api))[new]["name_zh"] == "康复科"
