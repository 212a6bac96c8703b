"""Staff find a patient in the registration service (the console's patient search): an
inbound caller by the number as they say it, a name by its beginning, a patient id; and one
patient's visits. Real registration service and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.factories import discharge, registration
from tests.integration.services import running

INTEGRATION = {"Authorization": "Bearer dev-integration-token"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def http(stack_config, stack_env) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    with running(stack_config, "registration", {}) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
            yield client


async def test_an_inbound_caller_is_found_by_the_number_as_they_say_it(
    http: httpx.AsyncClient, stack_env: dict[str, str]
) -> None:
    n = uuid.uuid4().int % 10**6
    phone = f"139{n:08d}"
    visit = registration(n, patient={"patient_id": f"PS{n}", "name": f"赵{n}", "phone": phone})
    stay = discharge(n, patient={"patient_id": f"PS{n}", "name": f"赵{n}", "phone": phone})
    for path, event in (("/v1/registrations", visit), ("/v1/discharges", stay)):
        resp = await http.post(path, json=event["data"], headers=INTEGRATION)
        assert resp.status_code == 202, resp.text

    spoken = f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"
    found = await http.get(
        "/v1/patients", params={"phone": spoken}, headers=auth("dev-agent-token")
    )
    assert found.status_code == 200, found.text
    [patient] = found.json()["items"]
    assert (patient["patient_id"], patient["name"]) == (f"PS{n}", f"赵{n}")
    assert patient["phone"] == f"+86{phone[:3]}****{phone[7:]}"  # masked but for operations
    admin = await http.get("/v1/patients", params={"phone": phone}, headers=auth("dev-admin-token"))
    assert admin.json()["items"][0]["phone"] == f"+86{phone}"

    by_name = await http.get("/v1/patients", params={"name": "赵"}, headers=auth("dev-agent-token"))
    assert f"PS{n}" in {p["patient_id"] for p in by_name.json()["items"]}
    given = await http.get("/v1/patients", params={"name": f"{n}"}, headers=auth("dev-agent-token"))
    assert f"PS{n}" in {p["patient_id"] for p in given.json()["items"]}  # 赵{n}: given name

    visits = await http.get(
        f"/v1/patients/PS{n}/visits", params={"limit": 1}, headers=auth("dev-agent-token")
    )
    assert visits.status_code == 200
    first = visits.json()
    assert (first["limit"], len(first["items"]), first["patient"]["name"]) == (1, 1, f"赵{n}")
    rest = await http.get(first["next"], headers=auth("dev-agent-token"))  # a page, its link
    assert rest.json()["next"] is None and rest.json()["patient"] == first["patient"]
    listed = first["items"] + rest.json()["items"]
    kinds = {(v["kind"], v["department"]["code"]) for v in listed}
    assert kinds == {("registration", "CARD"), ("admission", "CARD")}
    [stay_view] = [v for v in listed if v["kind"] == "admission"]
    assert stay_view["disposition"] == "home" and stay_view["discharged_at"]
    forged = await http.get(
        f"/v1/patients/PS{n}/visits", params={"cursor": "eyJ4IjoxfQ"},
        headers=auth("dev-agent-token"),
    )  # fmt: skip
    assert forged.status_code == 422 and "cursor" in forged.text

    db = await asyncpg.connect(stack_env["DATABASE_URL"])
    try:
        routes = await db.fetch(
            "SELECT route, staff_id FROM registration.access_records WHERE patient_id = $1",
            f"PS{n}",
        )
    finally:
        await db.close()
    assert {("/v1/patients", "S-AGENT-01"), ("/v1/patients/{patient_id}/visits", "S-AGENT-01")} <= {
        (r["route"], r["staff_id"]) for r in routes
    }


async def test_a_search_needs_exactly_one_of_phone_name_or_id_and_staff(
    http: httpx.AsyncClient,
) -> None:
    none = await http.get("/v1/patients", headers=auth("dev-agent-token"))
    assert none.status_code == 422 and "phone, name or patient_id" in none.text
    two = await http.get(
        "/v1/patients", params={"name": "赵", "patient_id": "P1"}, headers=auth("dev-agent-token")
    )
    assert two.status_code == 422
    system = await http.get("/v1/patients", params={"name": "赵"}, headers=INTEGRATION)
    assert system.status_code == 403
    missing = await http.get("/v1/patients/NOBODY-X/visits", headers=auth("dev-agent-token"))
    assert missing.status_code == 404


async def test_a_merged_patient_id_finds_the_surviving_patient(
    http: httpx.AsyncClient,
    stack_config,  # type: ignore[no-untyped-def]
) -> None:
    from tests.integration.test_registration_ingest import ack_code, mllp
    from tests.registration.messages import a40

    n = uuid.uuid4().int % 10**6
    old, new = f"PM{n}", f"PN{n}"
    visit = registration(n, patient={"patient_id": old, "name": f"钱{n}", "phone": "13911112222"})
    resp = await http.post("/v1/registrations", json=visit["data"], headers=INTEGRATION)
    assert resp.status_code == 202, resp.text
    [ack] = await mllp(stack_config.mllp_port, a40(f"A40-{n}", (new, old)))  # old merged into new
    assert ack_code(ack) == "AA"

    found = await http.get(
        "/v1/patients", params={"patient_id": old}, headers=auth("dev-agent-token")
    )
    [patient] = found.json()["items"]
    assert (patient["patient_id"], patient["merged_from"], patient["name"]) == (new, old, f"钱{n}")
    visits = await http.get(f"/v1/patients/{old}/visits", headers=auth("dev-agent-token"))
    assert visits.status_code == 200, visits.text
    assert (visits.json()["patient"]["patient_id"], visits.json()["merged_from"]) == (new, old)
    same = await http.get(
        "/v1/patients", params={"patient_id": new}, headers=auth("dev-agent-token")
    )
    assert same.json()["items"][0]["merged_from"] is None  # asked by the surviving id
