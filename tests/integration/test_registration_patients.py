"""Staff find a patient in the registration service (the console's patient search): an
inbound caller by the number as they say it, a name by its beginning, a patient id; and one
patient's visits. The phone is stored sealed and searched by its keyed hash (issue 24). Real
registration service and PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.factories import discharge, envelope, registration
from tests.integration.services import running
from tests.kafka_tools import eventually

INTEGRATION = {"Authorization": "Bearer dev-integration-token"}


async def visits_dump(stack_env: dict[str, str]) -> str:
    """A raw `pg_dump` of registration's visits: what anyone holding a backup reads."""
    done = await asyncio.to_thread(
        subprocess.run,
        ["/usr/lib/postgresql/15/bin/pg_dump", "--data-only", "--table=registration.visits",
         stack_env["DATABASE_URL"]],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def http(stack_config, stack_env) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    with running(stack_config, "registration", {"DATA_RESEAL_INTERVAL_S": "0.5"}) as service:
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


async def test_a_stay_whose_discharge_was_cancelled_shows_no_discharge(
    http: httpx.AsyncClient,
) -> None:
    """ADT^A13: the patient is on the ward again. The stay's record keeps the cancelled
    discharge (the next A03 is completed from it), but the patient page and the call screen
    showed its time and disposition beside 在院（出院已取消）."""
    n = uuid.uuid4().int % 10**6
    stay = discharge(n, patient={"patient_id": f"PC{n}", "name": f"钱{n}", "phone": "13900000000"})
    resp = await http.post("/v1/discharges", json=stay["data"], headers=INTEGRATION)
    assert resp.status_code == 202, resp.text
    admission = stay["data"]["admission_id"]
    cancel = envelope("discharge.cancelled", {"admission_id": admission}, subject=f"PC{n}")
    resp = await http.post("/v1/events", json=[cancel], headers=INTEGRATION)
    assert resp.status_code == 202, resp.text

    visits = await http.get(f"/v1/patients/PC{n}/visits", headers=auth("dev-agent-token"))
    assert visits.status_code == 200, visits.text
    [view] = visits.json()["items"]
    assert (view["visit_id"], view["status"]) == (admission, "discharge_cancelled")
    assert view["discharged_at"] is None and view["disposition"] is None
    assert view["admitted_at"] and view["department"]["code"] == "CARD"


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


async def registered(http: httpx.AsyncClient, n: int, phone: str) -> str:
    """A registration of patient PE{n} with `phone`; its visit id."""
    visit = registration(n, patient={"patient_id": f"PE{n}", "name": f"孙{n}", "phone": phone})
    resp = await http.post("/v1/registrations", json=visit["data"], headers=INTEGRATION)
    assert resp.status_code == 202, resp.text
    return str(visit["data"]["registration_id"])


async def found_by_phone(http: httpx.AsyncClient, phone: str) -> list[str]:
    resp = await http.get("/v1/patients", params={"phone": phone}, headers=auth("dev-admin-token"))
    assert resp.status_code == 200, resp.text
    return [f"{p['patient_id']} {p['phone']}" for p in resp.json()["items"]]


async def test_a_patients_phone_is_unreadable_in_a_raw_dump_and_found_by_its_keyed_hash(
    http: httpx.AsyncClient, stack_env: dict[str, str], raw_db: asyncpg.Connection, stack_config
) -> None:  # type: ignore[no-untyped-def]
    n = uuid.uuid4().int % 10**6
    phone = f"136{n:08d}"
    visit_id = await registered(http, n, phone)
    assert await found_by_phone(http, phone) == [f"PE{n} +86{phone}"]
    dump = await visits_dump(stack_env)
    assert visit_id in dump and phone not in dump
    row = await raw_db.fetchrow(
        "SELECT patient_phone, phone_hash FROM registration.visits WHERE visit_id = $1", visit_id
    )
    assert row["patient_phone"].startswith("enc1:") and row["phone_hash"]
    visits = await http.get(f"/v1/patients/PE{n}/visits", headers=auth("dev-admin-token"))
    assert visits.json()["patient"]["phone"] == f"+86{phone}"

    # A new number from the hospital system (ADT^A08) is sealed and searched the same way.
    from tests.integration.test_registration_ingest import ack_code, mllp
    from tests.registration.messages import adt

    new = f"134{n:08d}"
    update = adt("A08", f"A08-{n}", patient_id=f"PE{n}", visit_id=visit_id, phone=new)
    [ack] = await mllp(stack_config.mllp_port, update)
    assert ack_code(ack) == "AA"
    assert await eventually(lambda: found_by_phone(http, new)) == [f"PE{n} +86{new}"]
    assert await found_by_phone(http, phone) == []
    stored = await raw_db.fetchval(
        "SELECT patient_phone FROM registration.visits WHERE visit_id = $1", visit_id
    )
    assert stored.startswith("enc1:") and new not in stored


async def test_a_phone_stored_before_encryption_is_found_and_sealed_by_the_reseal_job(
    http: httpx.AsyncClient, raw_db: asyncpg.Connection
) -> None:
    """A row as migration 350 leaves one of before (the number in clear, no hash): the search
    still finds it, and the re-seal job seals it and gives it its hash."""
    n = uuid.uuid4().int % 10**6
    phone = f"135{n:08d}"
    visit_id = await registered(http, n, phone)
    await raw_db.execute(
        "UPDATE registration.visits SET patient_phone = $2, phone_hash = NULL WHERE visit_id = $1",
        visit_id,
        f"+86{phone}",
    )
    assert f"PE{n} +86{phone}" in await found_by_phone(http, phone)

    async def sealed() -> bool:
        row = await raw_db.fetchrow(
            "SELECT patient_phone, phone_hash FROM registration.visits WHERE visit_id = $1",
            visit_id,
        )
        return bool(row["patient_phone"].startswith("enc1:") and row["phone_hash"])

    assert await eventually(sealed, timeout=30, interval=0.3)
    assert await found_by_phone(http, phone) == [f"PE{n} +86{phone}"]
