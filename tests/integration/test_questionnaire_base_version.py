"""Two operators saving a questionnaire (`PUT /v1/questionnaires/{kind}`) on the real
notifications service and PostgreSQL: each edited the version in force; the second's save
discarded the first's edits without a word. A save naming the version it was edited from
(`base_version`) is refused with 409 when another is in force; one without it still saves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.services import RunningService, forget_questionnaire_versions, running_all

KIND = "complaint_check"  # its saved versions are forgotten before and after


async def forget_saved_versions(dsn: str) -> None:
    await forget_questionnaire_versions(dsn, KIND)


@pytest.fixture(scope="module")
async def http(stack_config, stack_env) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    await forget_saved_versions(stack_env["DATABASE_URL"])
    services: dict[str, RunningService]
    with running_all(stack_config, ("notifications",), {}) as services:
        headers = {"Authorization": f"Bearer {stack_env['TOKEN_ADMIN']}"}
        url = services["notifications"].url
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
            yield client
    await forget_saved_versions(stack_env["DATABASE_URL"])


async def in_force(http: httpx.AsyncClient) -> dict[str, Any]:
    resp = await http.get("/v1/questionnaires")
    resp.raise_for_status()
    found: dict[str, Any] = next(q for q in resp.json()["items"] if q["kind"] == KIND)
    return found


def edited(questionnaire: dict[str, Any], title: str, **more: Any) -> dict[str, Any]:
    return {"title": title, "questions": questionnaire["questions"], **more}


async def test_the_second_of_two_saves_from_the_same_version_is_refused(
    http: httpx.AsyncClient,
) -> None:
    opened = await in_force(http)
    base = opened["version"]
    first = await http.put(
        f"/v1/questionnaires/{KIND}", json=edited(opened, "甲改的", base_version=base)
    )
    assert first.status_code == 200, first.text
    second = await http.put(
        f"/v1/questionnaires/{KIND}", json=edited(opened, "乙改的", base_version=base)
    )
    assert second.status_code == 409, second.text
    assert f"version {base + 1} is in force" in second.text
    now = await in_force(http)
    assert (now["version"], now["title"]) == (base + 1, "甲改的")  # the first's edits kept


async def test_a_save_without_base_version_replaces_whatever_is_in_force(
    http: httpx.AsyncClient,
) -> None:
    opened = await in_force(http)
    saved = await http.put(f"/v1/questionnaires/{KIND}", json=edited(opened, "脚本改的"))
    assert saved.status_code == 200 and saved.json()["version"] == opened["version"] + 1
