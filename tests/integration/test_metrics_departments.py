"""The departments with KPI data in a period, for the console's operations screen: the metrics
service as a real process on Kafka and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.metrics_script import WEEK_DATE
from tests.integration.services import RunningService, running
from tests.integration.test_metrics_service import discharge_event
from tests.kafka_tools import eventually, publish

ADMIN = {"Authorization": "Bearer dev-admin-token"}


@pytest.fixture(scope="module")
def metrics(stack_config, stack_env) -> Iterator[RunningService]:  # type: ignore[no-untyped-def]
    with running(stack_config, "metrics", {"METRICS_STORE_REFRESH_INTERVAL_S": "0.3"}) as service:
        yield service


async def departments(url: str, **params: str) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as api:
        r = await api.get("/v1/kpi/departments", params=params, headers=ADMIN)
    assert r.status_code == 200, r.text
    found: list[str] = r.json()["departments"]
    return found


async def test_a_department_with_discharges_in_the_period_is_listed_and_only_then(
    metrics: RunningService, stack_env: dict[str, str]
) -> None:
    department = f"D{uuid.uuid4().hex[:6].upper()}"
    _, key, value = discharge_event(department, 0)  # discharged on 14 November 2026
    await publish(stack_env["KAFKA_BOOTSTRAP_SERVERS"], "hospital.discharges.v1", [(key, value)])
    day = WEEK_DATE  # the same month (November 2026) as the discharge

    async def listed() -> bool:
        return department in await departments(metrics.url, period="month", date=day)

    await eventually(listed, timeout=60)
    assert department in await departments(metrics.url, period="quarter", date=day)
    assert department not in await departments(metrics.url, period="month", date="2020-01-15")
    async with httpx.AsyncClient(base_url=metrics.url, timeout=10) as api:
        agent = {"Authorization": "Bearer dev-agent-token"}
        assert (await api.get("/v1/kpi/departments", headers=agent)).status_code == 403
        bad = await api.get("/v1/kpi/departments", params={"period": "year"}, headers=ADMIN)
        assert bad.status_code == 422


async def test_the_director_reviews_the_kpi_report_but_not_staff_by_staff(
    metrics: RunningService,
) -> None:
    """Audit finding 7: the director (院长) had no KPI view. The report, the departments and the
    monthly report are theirs; the staff lines and the per-staff figures are not."""
    director = {"Authorization": "Bearer dev-director-token"}
    async with httpx.AsyncClient(base_url=metrics.url, timeout=10) as api:
        report = await api.get("/v1/kpi", params={"period": "month"}, headers=director)
        assert report.status_code == 200, report.text
        assert report.json()["kpis"] and report.json()["staff"] == []
        listed = await api.get("/v1/kpi/departments", headers=director)
        assert listed.status_code == 200, listed.text
        monthly = await api.get("/v1/kpi/report.csv", headers=director)
        assert monthly.status_code == 200 and monthly.text.lstrip("\ufeff").startswith("period,")
        assert (await api.get("/v1/kpi/staff", headers=director)).status_code == 403
