"""What the console's forms offer, from the services on the real stack:

- the complaints service's categories per kind as this installation set them (`GET
  /v1/categories`): a hospital's own praise and suggestion categories, not the defaults, and
  praise filed under its own category instead of as other;
- the roster's directory (follow-up's `GET /v1/staff-directory`): any member of staff finds an
  active colleague by name, without their phone; a member made inactive is not offered; and
  the names of the members a list shows (`id=`), active or not.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.integration.services import RunningService, running_all

OWN = {
    "COMPLAINTS_PRAISE_CATEGORIES": json.dumps(["ward_cleanliness", "nursing_care"]),
    "COMPLAINTS_SUGGESTION_CATEGORIES": json.dumps(["parking"]),
}
AGENT = {"Authorization": "Bearer dev-agent-token"}
ADMIN = {"Authorization": "Bearer dev-admin-token"}


@pytest.fixture(scope="module")
def started(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, ["complaints", "followup"], {"complaints": OWN}) as s:
        yield s


@pytest.fixture(scope="module")
async def api(started: dict[str, RunningService]) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """A client of each service, by name."""
    async with contextlib.AsyncExitStack() as clients:
        yield {
            name: await clients.enter_async_context(httpx.AsyncClient(base_url=s.url, timeout=10))
            for name, s in started.items()
        }


async def test_the_categories_are_the_hospitals_own_and_praise_is_filed_under_its_own(
    api: dict[str, httpx.AsyncClient],
) -> None:
    complaints = api["complaints"]
    answer = await complaints.get("/v1/categories", headers=AGENT)
    assert answer.status_code == 200, answer.text
    offered = answer.json()
    assert offered["praise"] == ["ward_cleanliness", "nursing_care", "other"]
    assert offered["suggestion"] == ["parking", "other"]
    assert offered["complaint"][0] == "staff_attitude" and offered["complaint"][-1] == "other"
    body = {"kind": "praise", "channel": "onsite", "category": "ward_cleanliness",
            "text": "病房每天都打扫得很干净"}  # fmt: skip
    recorded = await complaints.post("/v1/feedback", json=body, headers=AGENT)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["category"] == "ward_cleanliness"
    refused = await complaints.get(
        "/v1/categories", headers={"Authorization": "Bearer dev-integration-token"}
    )
    assert refused.status_code == 403  # hospital systems send categories, they read nothing
    # whoever reads the complaint queue (the director too: their /cases page reads them)
    for token in ("dev-director-token", "dev-admin-token"):
        seen = await complaints.get("/v1/categories", headers={"Authorization": f"Bearer {token}"})
        assert seen.status_code == 200, (token, seen.text)


async def test_any_member_finds_an_active_colleague_by_name_without_their_phone(
    api: dict[str, httpx.AsyncClient],
) -> None:
    followup = api["followup"]
    found = await followup.get("/v1/staff-directory", params={"q": "李明"}, headers=AGENT)
    assert found.status_code == 200, found.text
    assert found.json()["items"] == [{"staff_id": "S-DOC-01", "name": "医生 李明",
                                      "department_code": "CARD", "role": "doctor"}]  # fmt: skip
    name = f"离职 {uuid.uuid4().hex[:8]}"
    member = {"name": name, "department_code": "CARD", "role": "doctor", "capacity": 1,
              "active": False}  # fmt: skip
    saved = await followup.put(
        f"/v1/staff/S-GONE-{uuid.uuid4().hex[:6]}", json=member, headers=ADMIN
    )
    assert saved.status_code == 200, saved.text
    gone = await followup.get("/v1/staff-directory", params={"q": name}, headers=AGENT)
    assert gone.json()["items"] == []
    assert (await followup.get("/v1/staff", headers=AGENT)).status_code == 403  # the roster


async def test_any_member_reads_the_names_of_the_members_a_list_shows_active_or_not(
    api: dict[str, httpx.AsyncClient],
) -> None:
    followup = api["followup"]
    gone_id = f"S-LEFT-{uuid.uuid4().hex[:6]}"
    member = {"name": "离职 赵敏", "department_code": "CARD", "role": "agent", "capacity": 1,
              "active": False}  # fmt: skip
    saved = await followup.put(f"/v1/staff/{gone_id}", json=member, headers=ADMIN)
    assert saved.status_code == 200, saved.text
    named = await followup.get(
        "/v1/staff-directory",
        params=[("id", "S-DOC-01"), ("id", gone_id), ("id", "S-NOBODY"), ("id", "S-DOC-01")],
        headers=AGENT,
    )
    assert named.status_code == 200, named.text
    assert {m["staff_id"]: m["name"] for m in named.json()["items"]} == {
        "S-DOC-01": "医生 李明",
        gone_id: "离职 赵敏",
    }
    both = await followup.get(
        "/v1/staff-directory", params={"id": "S-DOC-01", "q": "李"}, headers=AGENT
    )
    assert both.status_code == 422 and "id" in both.text, both.text
    too_many = await followup.get(
        "/v1/staff-directory", params=[("id", f"S-{n}") for n in range(201)], headers=AGENT
    )
    assert too_many.status_code == 422 and "id" in too_many.text, too_many.text
