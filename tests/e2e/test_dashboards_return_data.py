"""Every Grafana panel and every Prometheus rule returns data on the real system.

The five services run as real processes on the test stack, whose Prometheus scrapes them
every 5 s and loads deploy/prometheus/rules/*.yml. A scripted stream drives them the way
the hospital does: registrations of every kind, discharges, complaints and a poison record
through the registration service and Kafka, follow-up outcomes (quality-check calls too)
through the follow-up API, complaint transitions, validity decisions, radiology's
confirmation, satisfaction answers, enquiries, praise and an answered suggestion through the
complaints API, and SMS through the test stack's real Kannel; a patient answers the survey
link texted to them, on the notifications service's public survey page. So the test needs no
other test's data on the stack: every catalogued metric has a series, and every KPI a
denominator, from this script alone. Then every PromQL expression of every dashboard panel
(English and Chinese files) and every recording and alerting rule is run through
/api/v1/query.

The rule for conditions: an expression with a filtering comparison (`a > 20`, every alert
here) is a condition, and a correctly false condition returns nothing. Such an expression
passes when it returns data as it is, or else when its `bool` form does
(`promql.as_bool_comparisons`): that form returns data exactly when each operand returns
data and their labels match, so the alert is quiet because the comparison is false, not
because a series is missing or mislabelled. Every other expression (panels, recording rules)
must return data as it is. NaN (0/0 while nothing moved) counts as data: the series exist.

Two alerts are also seen firing on the real data: the late complaint fires
`ComplaintTimeLimitBreached`, the poison record `EventsDeadLettered` (each the first of its
kind, which `increase()` sees only because its count was exported at 0 beforehand).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack import SERVICES, StackConfig
from metrics import catalog
from tests.e2e import promql
from tests.integration.services import RunningService, running_all
from tests.integration.test_enquiries_service import texts_to
from tests.integration.test_survey_by_sms_link import LINK, csrf_of
from tests.integration.test_survey_reminders import INVITED
from tests.kafka_tools import eventually, publish

# Short timers, so that what the hospital sees over hours happens within seconds.
SERVICE_ENV: dict[str, dict[str, str]] = {
    "metrics": {
        "METRICS_STORE_REFRESH_INTERVAL_S": "0.5",
        "METRICS_KPI_REFRESH_INTERVAL_S": "1",
        "METRICS_GROUP_LAG_INTERVAL_S": "2",
        # The KPI gauges' rolling cohort normally ends 3 days ago; here it runs up to
        # tomorrow, so the calls and answers recorded now are in it.
        "METRICS_KPI_WINDOW_OFFSET_DAYS": "-1",
    },
    "followup": {
        "FOLLOWUP_SCAN_INTERVAL_S": "1",
        "FOLLOWUP_OUTPATIENT_FIRST_VISIT_RATE": "1",
        "FOLLOWUP_OUTPATIENT_RETURN_VISIT_RATE": "1",
        "FOLLOWUP_SPOT_CHECK_RATE": "1",  # the satisfied call is spot-checked
    },
    "complaints": {"COMPLAINTS_TIMER_INTERVAL_S": "1"},
    "notifications": {
        "NOTIFICATIONS_QUIET_HOURS_START": "00:00",  # start == end: no quiet hours
        "NOTIFICATIONS_QUIET_HOURS_END": "00:00",
        "NOTIFICATIONS_DISCHARGE_NOTICE_DELAY_MIN": "0",
        "NOTIFICATIONS_DISPATCH_INTERVAL_S": "0.2",
    },
}
DEPARTMENT = {"code": "CARD", "name": "心内科"}  # its follow-up calls go to S-DOC-01/02
DESK = {"code": "CS", "name": "客服中心"}  # complaints the desk (S-SUP-01's team) works
# Values for dashboard variables (a new one must be added here). `$department` is a regex
# (`department=~"$department"`): the departments the scripted stream has data in.
VARIABLES = {"department": f"{DEPARTMENT['code']}|{DESK['code']}|REG"}


@pytest.fixture(scope="module")
def services(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES, SERVICE_ENV) as running:
        yield running


class Hospital:
    """The scripted stream: what the hospital's systems and staff do, through the APIs."""

    def __init__(self, env: dict[str, str], config: StackConfig, client: httpx.AsyncClient) -> None:
        self.env = env
        self.config = config
        self.client = client
        self.tag = uuid.uuid4().hex[:8]
        self.now = datetime.now(UTC)
        self.events: list[dict[str, Any]] = []
        self.phones: dict[str, str] = {}

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env[f'TOKEN_{role.upper()}']}"}

    def url(self, service: str, path: str) -> str:
        return self.env[f"{service.upper()}_URL"] + path

    async def post(self, service: str, path: str, body: Any, role: str, status: int = 200) -> Any:
        """`body` posted to `service`'s `path` as `role`: the answer's JSON, its status checked."""
        resp = await self.client.post(self.url(service, path), json=body, headers=self.auth(role))
        assert resp.status_code == status, resp.text
        return resp.json()

    def ago(self, **delta: float) -> datetime:
        return self.now - timedelta(**delta)

    def patient(self, ref: str, **over: Any) -> dict[str, Any]:
        """A patient of the script, whose phone is kept: the SMS they get are found by it."""
        number = f"139{uuid.uuid4().int % 10**8:08d}"
        patient = {"patient_id": f"P-{self.tag}-{ref}", "name": "张三", "phone": number, **over}
        self.phones[ref] = patient["phone"]
        return patient

    def emit(self, type_: str, at: datetime, data: dict[str, Any]) -> None:
        self.events.append(
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": "urn:test:e2e",
                "type": type_,
                "time": at.isoformat(),
                "subject": f"P-{self.tag}",
                "datacontenttype": "application/json",
                "data": data,
            }
        )

    def discharge(self, ref: str, at: datetime, disposition: str = "home", **patient: Any) -> None:
        data = {
            "admission_id": f"A-{self.tag}-{ref}",
            "patient": self.patient(ref, **patient),
            "department": DEPARTMENT,
            "admitted_at": (at - timedelta(days=4)).isoformat(),
            "discharged_at": at.isoformat(),
            "disposition": disposition,
        }
        self.emit("patient.discharged", at, data)

    def registration(self, ref: str, appointment: datetime, visit_type: str) -> None:
        registered = min(appointment, self.now) - timedelta(days=1)
        data = {
            "registration_id": f"R-{self.tag}-{ref}",
            "patient": self.patient(ref),
            "department": DEPARTMENT,
            "visit_type": visit_type,
            "channel": "online",
            "registered_at": registered.isoformat(),
            "appointment_at": appointment.isoformat(),
        }
        self.emit("registration.created", registered, data)

    async def send_hospital_events(self) -> None:
        sent = await self.post("registration", "/v1/events", self.events, "integration", 202)
        assert sent["published"] == len(self.events), sent

    # --- follow-up calls (the follow-up service's API) --------------------------------

    async def task_of(self, source_ref: str) -> str:
        task_id = f"FU-{source_ref}" if source_ref.startswith("A-") else f"FU-OP-{source_ref}"

        async def planned() -> bool:
            resp = await self.client.get(
                self.url("followup", f"/v1/tasks/{task_id}"), headers=self.auth("admin")
            )
            return resp.status_code == 200

        await eventually(planned, timeout=30, interval=0.2)
        return task_id

    async def call(self, source_ref: str, **outcome: Any) -> dict[str, Any]:
        return await self.call_task(await self.task_of(source_ref), **outcome)

    async def call_task(self, task_id: str, **outcome: Any) -> dict[str, Any]:
        """The outcome of a call on `task_id`: a planned call, or a quality check (spot check,
        second call) that an earlier outcome planned."""
        path = f"/v1/tasks/{task_id}/outcome"
        return await self.post("followup", path, outcome, "admin")  # type: ignore[no-any-return]

    # --- complaints (the complaints service's API, as the desk's supervisor) ----------

    async def open_case(self, ref: str, category: str, submitted_at: datetime, **over: Any) -> str:
        body = {
            "channel": "onsite",
            "description": "在窗口排队等了三个小时，没有人解释原因",
            "patient": self.patient(ref),
            "department": DESK,
            "category": category,
            "submitted_at": submitted_at.isoformat(),
            "external_id": f"E2E-{self.tag}-{ref}",
            **over,
        }
        opened = await self.post("complaints", "/v1/cases", body, "supervisor", 201)
        return opened["case_number"]  # type: ignore[no-any-return]

    async def enquiry(self, ref: str, channel: str, taken_at: datetime) -> str:
        """An enquiry the desk's agent takes (complaints API), in the desk's department."""
        body = {
            "channel": channel,
            "question": "请问心内科专家门诊周几出诊？",
            "patient": self.patient(ref),
            "department": DESK,
            "taken_at": taken_at.isoformat(),
        }
        taken = await self.post("complaints", "/v1/enquiries", body, "agent", 201)
        return taken["enquiry_number"]  # type: ignore[no-any-return]

    async def answer_enquiry(self, number: str) -> None:
        answer = {"answer": "周二、周四上午出诊"}
        await self.post("complaints", f"/v1/enquiries/{number}/answer", answer, "agent")

    async def move(self, number: str, *steps: str) -> None:
        for step in steps:
            body: dict[str, Any] = {"to": step, "note": f"{step} (e2e)"}
            if step == "resolution_proposed":  # 投诉成立 first: a procedure record
                await self.decide(number, founded=True, reason="查实")
                body |= {"resolution": "致歉并调整窗口排班", "resolution_kind": "apology"}
            # Four eyes: the director approves what the desk's supervisor proposed.
            who = "director" if step == "resolution_approved" else "supervisor"
            await self.post("complaints", f"/v1/cases/{number}/transitions", body, who)

    async def decide(self, number: str, *, founded: bool, reason: str) -> None:
        """The desk's validity decision (投诉成立 or 不成立), a procedure record."""
        decision = {"founded": founded, "reason": reason}
        await self.post("complaints", f"/v1/cases/{number}/validity", decision, "supervisor")

    async def confirm_imaging(self, number: str) -> None:
        """Radiology confirms an imaging dispute: the only step that stops its 2-hour clock."""
        note = {"note": "复核影像，报告描述有误"}
        await self.post("complaints", f"/v1/cases/{number}/imaging-confirmation", note, "radiology")

    async def answer(self, number: str, rating: str) -> None:
        answer = {"rating": rating}
        await self.post("complaints", f"/v1/cases/{number}/satisfaction", answer, "supervisor")

    async def feedback(self, kind: str, text: str) -> str:
        """Praise or a suggestion the desk's agent records (complaints API), in the desk's
        department."""
        body = {"kind": kind, "channel": "online", "text": text, "department": DESK}
        recorded = await self.post("complaints", "/v1/feedback", body, "agent", 201)
        return recorded["feedback_number"]  # type: ignore[no-any-return]

    async def answer_suggestion(self, number: str, outcome: str) -> None:
        answer = {"answer": "已在一楼大厅增设两台自助缴费机", "outcome": outcome}
        await self.post("complaints", f"/v1/feedback/{number}/answer", answer, "agent")

    # --- the patient's survey (the notifications service's public page) --------------

    async def answer_survey(self, ref: str, answers: dict[str, str]) -> None:
        """The patient `ref` opens the link of the survey invitation Kannel delivered to their
        phone and submits `answers` on the page with its form's token and cookie, as their
        phone's browser does (a client of its own: no staff token)."""
        phone = self.phones[ref]

        def texted_link() -> str | None:
            found = [
                m.group(1) for t in texts_to(self.config, phone, INVITED) if (m := LINK.search(t))
            ]
            return found[0] if found else None

        link: str = await eventually(texted_link, timeout=60, interval=0.5)
        async with httpx.AsyncClient(timeout=10) as browser:
            form = await browser.get(link)
            assert form.status_code == 200, form.text[:300]
            page = await browser.post(link, data={"csrf": csrf_of(form), "v": "1", **answers})
        assert page.status_code == 200, page.text[:300]


TO_CLOSED = (
    "acknowledged",
    "investigating",
    "resolution_proposed",
    "resolution_approved",
    "resolution_implemented",
    "communicated",
    "summary_signed_off",
    "closed",
)
BREACH_SERIES = f'hospital_complaint_time_limit_breaches_total{{department="{DESK["code"]}",limit="first_response"}}'


POISONED_TOPIC = "hospital.discharges.v1"
DISCHARGE_CONSUMERS = {"followup", "notifications", "metrics"}


async def dead_letter_counts_scraped(prometheus: httpx.AsyncClient) -> bool:
    series = f'hospital_events_processed_total{{topic="{POISONED_TOPIC}",result="malformed_json"}}'
    return {r["metric"]["service"] for r in await query(prometheus, series)} >= DISCHARGE_CONSUMERS


async def run_the_script(h: Hospital, prometheus: httpx.AsyncClient) -> None:
    # Complaints taken at the desk (complaints API): a complex one (72 h answer) to be closed
    # and answered satisfied, one answered dissatisfied (it reopens), one withdrawn, one
    # found unfounded and closed once explained, an imaging dispute radiology confirms, one
    # lodged 20 h ago (its 24 h first response is at the 80% warning).
    closed = await h.open_case("closed", "waiting_time", h.now, complex=True)
    reopened = await h.open_case("reopened", "staff_attitude", h.now)
    withdrawn = await h.open_case("withdrawn", "environment", h.now)
    unfounded = await h.open_case("unfounded", "waiting_time", h.now)
    imaging = await h.open_case("imaging", "imaging_dispute", h.now)
    await h.open_case("warned", "waiting_time", h.ago(hours=20))
    # The desk's first-response breach count is in Prometheus (at 0, or what earlier tests
    # left) before the breach below, as it is in a hospital where cases open long before
    # one is late: the breach alert can only see an increase of a series it already has.
    await eventually(lambda: query(prometheus, BREACH_SERIES), timeout=30)

    # Enquiries at the desk: one online and one by phone, answered at once (in time); one on
    # site taken 31 minutes ago, past its 30-minute limit: it escalates to the desk's
    # supervisor.
    await h.answer_enquiry(await h.enquiry("online", "online", h.now))
    await h.answer_enquiry(await h.enquiry("phone", "phone", h.now))
    await h.enquiry("late", "onsite", h.ago(minutes=31))
    # Praise and a suggestion at the desk; the suggestion is answered, adopted.
    await h.feedback("praise", "导医耐心指引，谢谢")
    await h.answer_suggestion(await h.feedback("suggestion", "建议增加自助缴费机"), "adopted")

    # Discharges: overdue calls (left 4 days ago), a fresh one whose care notice SMS is
    # delivered, a death, a cancelled discharge, a wrong number (SMS failed), an opt-out.
    for ref in ("reached", "objection", "unreachable", "left_open"):
        h.discharge(ref, h.ago(days=4))
    h.discharge("fresh", h.ago(minutes=30))
    h.discharge("deceased", h.ago(days=1), disposition="deceased")
    h.discharge("cancelled", h.ago(hours=2))
    h.emit("discharge.cancelled", h.ago(hours=1), {"admission_id": f"A-{h.tag}-cancelled"})
    h.discharge("bad_phone", h.ago(hours=1), phone="12345")
    h.discharge("opted_out", h.ago(hours=1), sms_opt_out=True)
    # Outpatient visits: a first visit 2 days ago (called, dissatisfied), a return visit in
    # 3 hours (its reminder SMS goes now), a cancelled one, a no-show.
    h.registration("first", h.ago(days=2), "first")
    h.registration("soon", h.now + timedelta(hours=3), "return")
    h.registration("cancelled", h.now + timedelta(days=2), "first")
    h.emit(
        "registration.cancelled",
        h.now,
        {"registration_id": f"R-{h.tag}-cancelled", "cancelled_at": h.now.isoformat()},
    )
    h.registration("no_show", h.ago(days=1), "return")
    h.emit("registration.no_show", h.now, {"registration_id": f"R-{h.tag}-no_show"})
    # The registration desk's window 3 has 12 people waiting: a queue episode opens.
    queue = {"queue_id": f"W3-{h.tag}", "department_code": "REG", "length": 12}
    h.emit("queue.reported", h.now, {**queue, "reported_at": h.now.isoformat()})
    # A complaint phoned in 30 hours ago reaches the desk now: its first response is late.
    h.emit(
        "complaint.submitted",
        h.ago(hours=30),
        {
            "external_id": f"HIS-{h.tag}",
            "channel": "phone",
            "patient": h.patient("phoned"),
            "department": DESK,
            "category": "billing",
            "description": "检查费重复收取",
            "submitted_at": h.ago(hours=30).isoformat(),
        },
    )
    await h.send_hospital_events()
    # A record that is not an event at all: every consumer of the topic dead-letters it
    # (once Prometheus has their dead-letter counts at 0, so the alert can see the step).
    await eventually(lambda: dead_letter_counts_scraped(prometheus), timeout=30)
    bootstrap = h.env["KAFKA_BOOTSTRAP_SERVERS"]
    await publish(bootstrap, POISONED_TOPIC, [(f"P-{h.tag}", b"{not json")])

    # Complaint transitions and answers (complaints API).
    await h.move(closed, *TO_CLOSED)
    await h.answer(closed, "satisfied")
    await h.move(reopened, *TO_CLOSED)
    await h.answer(reopened, "dissatisfied")
    await h.move(withdrawn, "withdrawn")
    await h.move(unfounded, "acknowledged", "investigating")
    await h.decide(unfounded, founded=False, reason="插队者为急诊患者，按规定优先")
    await h.move(unfounded, "closed")
    await h.confirm_imaging(imaging)

    # Follow-up calls (follow-up API); "left_open" stays open and overdue. The satisfied call
    # is spot-checked, the objection called back (a second call).
    outcomes = await asyncio.gather(
        h.call(f"A-{h.tag}-reached", reached=True, satisfaction="satisfied", score=5),
        h.call(
            f"A-{h.tag}-objection",
            reached=True,
            satisfaction="fairly_satisfied",
            objection="出院结算排队太久，希望改进",
        ),
        h.call(f"R-{h.tag}-first", reached=True, satisfaction="dissatisfied"),
    )
    assert outcomes[1]["complaint_submitted"] is True  # the objection became a complaint
    await asyncio.gather(
        h.call_task(outcomes[0]["spot_check_task_id"], reached=True, satisfaction="satisfied"),
        h.call_task(outcomes[1]["second_call_task_id"], reached=True, satisfaction="satisfied"),
    )
    for _ in range(3):  # the last attempt closes the task as unreachable (survey SMS)
        outcome = await h.call(f"A-{h.tag}-unreachable", reached=False)
    assert outcome["status"] == "unreachable"
    # The first visit's patient answers the survey link texted to them a day after the visit
    # (survey page): a survey answered, with answers by aspect (registration, guidance).
    await h.answer_survey(
        "first",
        {"q.registration": "dissatisfied", "q.guidance": "satisfied", "q.overall": "satisfied"},
    )


async def metrics_service_counted_everything(url: str) -> bool:
    """Every catalogued metric of the metrics service has a series, and SMS went through
    Kannel and back (delivered) or ran out of time (expired)."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{url}/metrics")).text
    present = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    wanted = {f"{m.name}_total" for m in catalog.COUNTERS} | {m.name for m in catalog.GAUGES}
    missing = sorted(wanted - present)
    if missing:
        print("metrics without a series yet:", missing)  # shown when the wait runs out
    return not missing and 'status="delivered"' in text and 'status="expired"' in text


@pytest.fixture(scope="module")
async def prometheus(stack_env) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack_env["PROMETHEUS_URL"], timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
async def scripted(services, stack_config, stack_env, prometheus) -> AsyncIterator[Hospital]:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(timeout=10) as client:
        hospital = Hospital(stack_env, stack_config, client)
        await run_the_script(hospital, prometheus)
        await eventually(
            lambda: metrics_service_counted_everything(services["metrics"].url), timeout=30
        )
        yield hospital


async def query(client: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    body = (await client.get("/api/v1/query", params={"query": expr})).json()
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]  # type: ignore[no-any-return]


async def empty_expressions(client: httpx.AsyncClient) -> list[str]:
    """The expressions that return nothing, by the rule in the module docstring."""
    empty = []
    for e in promql.dashboard_expressions(VARIABLES) + promql.rule_expressions():
        if await query(client, e.expr):
            continue
        if promql.has_comparison(e.expr) and await query(
            client, promql.as_bool_comparisons(e.expr)
        ):
            continue
        empty.append(f"{e.where}: {e.expr}")
    return empty


async def test_prometheus_loads_every_rule_and_scrapes_every_service(scripted, prometheus) -> None:  # type: ignore[no-untyped-def]
    groups = (await prometheus.get("/api/v1/rules")).json()["data"]["groups"]
    loaded = {(g["name"], r["name"]) for g in groups for r in g["rules"]}
    in_files = {
        (g["name"], r.get("record") or r.get("alert"))
        for g in promql.rule_groups()
        for r in g["rules"]
    }
    assert in_files <= loaded

    async def all_up() -> bool:
        targets = (await prometheus.get("/api/v1/targets")).json()["data"]["activeTargets"]
        return {t["labels"]["job"] for t in targets if t["health"] == "up"} >= set(SERVICES)

    await eventually(all_up, timeout=20)


async def test_every_panel_and_rule_expression_returns_data(scripted, prometheus) -> None:  # type: ignore[no-untyped-def]
    expressions = promql.dashboard_expressions(VARIABLES) + promql.rule_expressions()
    assert {e.kind for e in expressions} == {"panel", "record", "alert"}

    async def none_empty() -> bool:
        return not await empty_expressions(prometheus)

    # Rates need two scrapes (5 s apart), and the recording rules an evaluation after them
    # (their group runs every 30 s): data is there within about 40 s of the last event.
    with contextlib.suppress(AssertionError):
        await eventually(none_empty, timeout=75, interval=1)
    empty = await empty_expressions(prometheus)
    assert not empty, "expressions returning no data:\n" + "\n".join(empty)


async def test_the_dead_letters_fire_their_alert(scripted, prometheus) -> None:  # type: ignore[no-untyped-def]
    firing = (
        f'ALERTS{{alertname="EventsDeadLettered",alertstate="firing",topic="{POISONED_TOPIC}"}}'
    )

    async def services_alerted() -> bool:
        alerts = await query(prometheus, firing)
        return {a["metric"]["service"] for a in alerts} >= DISCHARGE_CONSUMERS

    await eventually(services_alerted, timeout=60, interval=1)


async def test_the_breach_fires_its_alert(scripted, prometheus) -> None:  # type: ignore[no-untyped-def]
    firing = (
        'ALERTS{alertname="ComplaintTimeLimitBreached",alertstate="firing",limit="first_response"}'
    )
    await eventually(lambda: query(prometheus, firing), timeout=60, interval=1)
