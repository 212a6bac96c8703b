"""A scripted week of events for one department, built from the real contracts, and the KPI
values for it computed by hand (see `EXPECTED_WEEK`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from hospital_shared import service_events  # noqa: F401  (registers the service event types)
from hospital_shared.codec import encode
from hospital_shared.events import (
    Department,
    DischargeCancelled,
    Patient,
    PatientDischarged,
    RegistrationCancelled,
    RegistrationCreated,
    RegistrationNoShow,
    make_event,
    topic_for,
)
from hospital_shared.service_events.complaints import (
    CaseTimeLimit,
    ComplaintCaseChanged,
    ComplaintSatisfactionRecorded,
    ComplaintTimeLimitReached,
)
from hospital_shared.service_events.followup import (
    FollowUpTaskCompleted,
    FollowUpTaskPlanned,
    FollowUpTaskUnreachable,
    Satisfaction,
)
from hospital_shared.service_events.surveys import SurveyAnswered

# Shanghai is UTC+8: local 2026-11-16 00:30 is 2026-11-15 16:30 UTC.
WEEK_DATE = "2026-11-18"  # a Wednesday; the week is Mon 16 .. Sun 22 November, local time


def local(day: int, hour: int = 10, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


Record = tuple[str, str, bytes]  # topic, key, value


class Script:
    def __init__(self, department: str) -> None:
        self.department = department
        self.tag = uuid.uuid4().hex[:8]
        self.records: list[Record] = []
        self.event_ids: dict[str, str] = {}

    def emit(self, type_: str, data: BaseModel, *, key: str, at: datetime) -> str:
        event = make_event(type_, data, source="urn:test:metrics", subject=key, time=at)
        self.records.append((topic_for(type_), key, encode(event)))
        return event.id

    def _patient(self, n: str) -> Patient:
        return Patient(patient_id=f"P-{self.tag}-{n}", name="张三", phone="13800138000")

    def discharge(self, n: str, at: datetime, disposition: str = "home") -> str:
        data = PatientDischarged(
            admission_id=f"A-{self.tag}-{n}",
            patient=self._patient(n),
            department=Department(code=self.department, name="测试科"),
            admitted_at=at - timedelta(days=4),
            discharged_at=at,
            disposition=disposition,  # type: ignore[arg-type]
        )
        self.event_ids[n] = self.emit("patient.discharged", data, key=n, at=at)
        return self.event_ids[n]

    def registration(self, n: str, at: datetime, visit_type: str = "first") -> str:
        data = RegistrationCreated(
            registration_id=f"R-{self.tag}-{n}",
            patient=self._patient(n),
            department=Department(code=self.department, name="测试科"),
            visit_type=visit_type,  # type: ignore[arg-type]
            channel="online",  # type: ignore[arg-type]
            registered_at=at - timedelta(days=2),
            appointment_at=at,
        )
        self.event_ids[n] = self.emit("registration.created", data, key=n, at=at)
        return self.event_ids[n]

    def _task(self, n: str, kind: str) -> dict[str, Any]:
        return {
            "task_id": f"T-{self.tag}-{n}"
            + {"spot_check": "-SC", "second_call": "-2"}.get(kind, ""),
            "kind": kind,
            "patient_id": f"P-{self.tag}-{n}",
            "department_code": self.department,
        }

    def plan(self, n: str, kind: str, at: datetime) -> None:
        source = self.event_ids[n]
        if kind in ("spot_check", "second_call"):  # a quality check of the call made for n
            source = f"task:T-{self.tag}-{n}"
        data = FollowUpTaskPlanned(
            **self._task(n, kind), source_event_id=source, due_at=at + timedelta(days=3)
        )
        self.emit("followup.task_planned", data, key=n, at=at)

    def reached(
        self,
        n: str,
        kind: str,
        at: datetime,
        satisfaction: Satisfaction | None,
        answers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """The call of visit `n` reached the patient: their overall `satisfaction`, and
        `answers` as (aspect, satisfaction) pairs, a question each."""
        data = FollowUpTaskCompleted(
            **self._task(n, kind),
            completed_by="S-AGENT-01",
            completed_at=at,
            attempts_made=1,
            satisfaction=satisfaction,
            answers=[
                {"question_id": f"q_{aspect}", "aspect": aspect, "satisfaction": said}
                for aspect, said in answers
            ],
        )
        self.emit("followup.task_completed", data, key=n, at=at)

    def survey(self, n: str, at: datetime, satisfaction: str) -> None:
        """The patient of visit `n` answers its survey by SMS link (an overall question)."""
        inpatient = n.startswith("D")
        ref = f"admission:A-{self.tag}-{n}" if inpatient else f"registration:R-{self.tag}-{n}"
        data = SurveyAnswered(
            survey_id=f"SV-{self.tag}-{n}",
            patient_id=f"P-{self.tag}-{n}",
            contact_ref=ref,
            contact_kind="inpatient_discharge" if inpatient else "outpatient_visit",
            department_code=self.department,
            questionnaire_version=1,
            answered_at=at,
            answers=[{"question_id": "overall", "aspect": "overall", "satisfaction": satisfaction}],
            dissatisfied=satisfaction == "不满意",
        )
        self.emit("survey.answered", data, key=f"P-{self.tag}-{n}", at=at)

    def unreachable(self, n: str, kind: str, at: datetime) -> None:
        data = FollowUpTaskUnreachable(**self._task(n, kind), attempts_made=3, source_ref=n)
        self.emit("followup.task_unreachable", data, key=n, at=at)

    def case(
        self,
        n: str,
        step: str,
        at: datetime,
        status: str,
        limits: dict[str, str | None],
        *,
        category: str = "waiting_time",
        complex_: bool = False,
        **procedure: Any,
    ) -> None:
        """A case event; each limit due a day after `at` (the 24 h clock's due time)."""
        data = ComplaintCaseChanged(
            case_number=f"TS-{self.tag}-{n}",
            status=status,  # type: ignore[arg-type]
            channel="phone",
            category=category,
            category_source="submitted",
            priority="normal",
            serious=False,
            complex=complex_,
            department_code=self.department,
            time_limits=tuple(
                CaseTimeLimit(
                    limit=name,  # type: ignore[arg-type]
                    starts_at=at,
                    due_at=at + timedelta(days=1),
                    warn_at=at + timedelta(hours=19),
                    outcome=outcome,
                )
                for name, outcome in limits.items()
            ),
            occurred_at=at,
            **procedure,
        )
        self.emit(f"complaint.case_{step}", data, key=n, at=at)

    def breach(self, n: str, limit: str, at: datetime, *, cycle: int = 1) -> None:
        data = ComplaintTimeLimitReached(
            case_number=f"TS-{self.tag}-{n}",
            limit=limit,  # type: ignore[arg-type]
            level="breach",
            cycle=cycle,
            starts_at=at - timedelta(days=1),
            due_at=at,
            status="investigating",
            channel="phone",
            category="waiting_time",
            priority="normal",
            department_code=self.department,
            occurred_at=at,
        )
        self.emit("complaint.time_limit_breached", data, key=n, at=at)

    def case_satisfaction(self, n: str, satisfied: bool, at: datetime) -> None:
        data = ComplaintSatisfactionRecorded(
            case_number=f"TS-{self.tag}-{n}",
            cycle=1,
            rating="satisfied" if satisfied else "dissatisfied",
            satisfied=satisfied,
            channel="phone",
            category="waiting_time",
            department_code=self.department,
            reopened=not satisfied,
            on_time=True,
            occurred_at=at,
        )
        self.emit("complaint.satisfaction_recorded", data, key=n, at=at)


def scripted_week(department: str) -> Script:
    s = Script(department)
    inpatient, outpatient = "inpatient_discharge", "outpatient_visit"
    # Inpatients. D1 left in the first half hour of the week and was reached the week after;
    # D0 left the week before and was reached inside this week (not this week's cohort).
    s.discharge("D0", local(12))
    s.plan("D0", inpatient, local(12))
    s.reached("D0", inpatient, local(17), Satisfaction.SATISFIED)
    s.discharge("D1", local(16, 0, 30))
    s.plan("D1", inpatient, local(16, 0, 30))
    s.reached("D1", inpatient, local(25), Satisfaction.SATISFIED)
    s.discharge("D2", local(18))
    s.plan("D2", inpatient, local(18))
    s.reached("D2", inpatient, local(19), Satisfaction.SATISFIED)
    s.discharge("D3", local(20))
    s.plan("D3", inpatient, local(20))
    s.unreachable("D3", inpatient, local(23))
    s.discharge("D4", local(21), disposition="deceased")
    s.discharge("D5", local(21))
    s.emit(
        "discharge.cancelled",
        DischargeCancelled(admission_id=f"A-{s.tag}-D5"),
        key="D5",
        at=local(21, 12),
    )
    s.discharge("D6", local(23, 0, 30))  # Monday after: next week's cohort
    s.plan("D6", inpatient, local(23, 0, 30))
    s.reached("D6", inpatient, local(23, 9), Satisfaction.SATISFIED)
    # Outpatients.
    s.registration("R1", local(17))
    s.plan("R1", outpatient, local(17))
    # R1's call: dissatisfied with registration (挂号), satisfied with the guidance staff.
    s.reached(
        "R1", outpatient, local(18), Satisfaction.DISSATISFIED,
        answers=(("registration", "不满意"), ("guidance", "满意")),
    )  # fmt: skip
    s.registration("R2", local(18), visit_type="return")
    s.emit(
        "registration.no_show",
        RegistrationNoShow(registration_id=f"R-{s.tag}-R2"),
        key="R2",
        at=local(18, 12),
    )
    s.registration("R3", local(19))
    s.registration("R4", local(20), visit_type="return")
    s.emit(
        "registration.cancelled",
        RegistrationCancelled(registration_id=f"R-{s.tag}-R4", cancelled_at=local(19)),
        key="R4",
        at=local(19),
    )
    # Complaints.
    s.case("C1", "opened", local(17), "received", {"first_response": None, "fact_finding": None})
    s.case(
        "C1",
        "acknowledged",
        local(17, 15),
        "acknowledged",
        {"first_response": "met", "fact_finding": None},
    )
    s.case(
        "C1",
        "resolution_proposed",
        local(24),
        "resolution_proposed",
        {"first_response": "met", "fact_finding": "late"},
    )
    s.breach("C1", "fact_finding", local(23))
    # The procedure's records (issue 21): C1 is founded, escalated to the director and settled.
    founded = {"validity": "founded", "director_id": "S-DIR-01"}
    limits = {"first_response": "met", "fact_finding": "late"}
    s.case("C1", "escalated", local(24, 10), "resolution_proposed", limits, **founded)
    s.case("C1", "settlement_recorded", local(24, 11), "resolution_proposed", limits, **founded)
    s.case("C2", "opened", local(18), "received", {"first_response": None, "fact_finding": None})
    s.breach("C2", "first_response", local(19))
    s.case(
        "C2",
        "acknowledged",
        local(19, 12),
        "acknowledged",
        {"first_response": "late", "fact_finding": "met"},
    )
    s.case("C3", "opened", local(19), "received", {"first_response": None, "fact_finding": None})
    s.case("C3", "withdrawn", local(19, 11), "withdrawn", {"first_response": "withdrawn"})
    s.case_satisfaction("C1", True, local(20))
    s.case_satisfaction("C2", False, local(21))
    _week_quality_checks_and_clocks(s)
    return s


def _week_quality_checks_and_clocks(s: Script) -> None:
    """Issue 20 in the scripted week: quality-check calls (not patients' answers) and the
    complex-answer and imaging-confirmation clocks, every one of them matured by now."""
    # Their answers by aspect are not patients' answers about the visit either: R1, asked
    # again, is still dissatisfied with registration; D2's spot check hears of the guidance.
    dissatisfied = (("registration", "不满意"), ("guidance", "不满意"))
    s.plan("D2", "spot_check", local(19, 11))
    s.reached("D2", "spot_check", local(19, 15), Satisfaction.DISSATISFIED, answers=dissatisfied)
    s.plan("R1", "second_call", local(18, 11))
    s.reached("R1", "second_call", local(19, 9), Satisfaction.SATISFIED, answers=dissatisfied)
    # Surveys by SMS link: R3 (no call) answers; D2 answers after its call: one answer a contact.
    s.survey("R3", local(20), "满意")
    s.survey("D2", local(20), "不满意")
    # D7 left the week before and answered by call then: its survey this week is its second.
    s.discharge("D7", local(10))
    s.plan("D7", "inpatient_discharge", local(10))
    s.reached("D7", "inpatient_discharge", local(13), Satisfaction.SATISFIED)
    s.survey("D7", local(17), "不满意")
    complex_ = {"category": "billing", "complex_": True}
    s.case("K5", "opened", local(17), "received", {"first_response": None, "complex_answer": None}, **complex_)  # fmt: skip
    s.case("K5", "acknowledged", local(17, 12), "acknowledged", {"first_response": "met", "complex_answer": None}, **complex_)  # fmt: skip
    s.case("K5", "communicated", local(18), "communicated", {"first_response": "met", "complex_answer": "met"}, **complex_)  # fmt: skip
    # Radiology never confirmed and no breach event came: missed once its due time passed.
    imaging = {"category": "imaging_dispute"}
    s.case("K6", "opened", local(18), "received", {"first_response": None, "imaging_confirmation": None}, **imaging)  # fmt: skip
    s.case("K6", "acknowledged", local(18, 11), "acknowledged", {"first_response": "met", "imaging_confirmation": None}, **imaging)  # fmt: skip
    s.case("K7", "opened", local(19), "received", {"first_response": None, "complex_answer": None}, **complex_)  # fmt: skip
    s.case("K7", "acknowledged", local(19, 11), "acknowledged", {"first_response": "met", "complex_answer": None}, **complex_)  # fmt: skip
    s.breach("K7", "complex_answer", local(22, 11))


def todays_cohorts(s: Script, base: datetime) -> None:
    """Cohorts whose windows are still open: events of the last minute (`base` is a minute
    ago), so every call is still inside its due days and every complaint clock runs."""

    def at(seconds: int) -> datetime:
        return base + timedelta(seconds=seconds)

    inpatient = "inpatient_discharge"
    s.discharge("T1", at(0))  # planned, not yet called: pending
    s.plan("T1", inpatient, at(0))
    s.discharge("T2", at(1))  # reached: met
    s.plan("T2", inpatient, at(1))
    s.reached("T2", inpatient, at(2), Satisfaction.SATISFIED)
    s.discharge("T3", at(3))  # every attempt unreached: missed although not yet due
    s.plan("T3", inpatient, at(3))
    s.unreachable("T3", inpatient, at(4))
    s.registration("U1", at(5))  # sampled and planned: pending
    s.plan("U1", "outpatient_visit", at(5))
    s.registration("U2", at(6))  # no task (not sampled): pending for the window's 3 days
    # K1 complex: first response, fact-finding and complex answer all still running.
    running = {"first_response": None, "fact_finding": None, "complex_answer": None}
    s.case("K1", "opened", at(7), "received", running, category="billing", complex_=True)
    imaging = {"category": "imaging_dispute"}
    # K2: acknowledged in time, radiology's 2 h still running; K3: confirmed, answer running.
    s.case("K2", "opened", at(8), "received", {"first_response": None, "imaging_confirmation": None}, **imaging)  # fmt: skip
    s.case("K2", "acknowledged", at(9), "acknowledged", {"first_response": "met", "imaging_confirmation": None}, **imaging)  # fmt: skip
    s.case("K3", "opened", at(10), "received", {"first_response": None, "imaging_confirmation": None}, **imaging)  # fmt: skip
    s.case("K3", "imaging_confirmed", at(11), "received", {"first_response": None, "imaging_confirmation": "met"}, **imaging)  # fmt: skip


# KPI -> (numerator, denominator) for the week of WEEK_DATE, by hand (nothing pending: the
# week is long past, every window has closed):
EXPECTED_WEEK: dict[str, tuple[int, int]] = {
    # D1, D2, D3 (D4 deceased, D5 cancelled, D0/D6 other weeks); reached: D1 (later!), D2.
    "followup_inpatient_rate": (2, 3),
    # visits not cancelled nor missed: R1, R3; reached: R1.
    "followup_outpatient_rate": (1, 2),
    "followup_first_visit_rate": (1, 2),
    # one answer per contact given in the week: D0's call (17th) 满意, D2's call (19th) 满意
    # (its survey on the 20th came second: not counted), R1's call (18th) 不满意, R3's survey
    # (20th, no call) 满意; D7's survey (17th) came after its call the week before: not counted; D2's spot check and R1's second call are quality checks, apart.
    "satisfaction_rate": (3, 4),
    # answers to registration (挂号) and guidance-staff (导医) questions: R1's call (不满意 and
    # 满意); the calls' overall answers are not about registration (issue 20), and D2's spot
    # check and R1's second call are quality checks, apart.
    "registration_dissatisfaction_rate": (1, 1),
    "guidance_dissatisfaction_rate": (0, 1),
    # cohort D1, D2, D3, R1, R3; with an answer (any time, call or survey): D1, D2, R1, R3.
    "survey_coverage_rate": (4, 5),
    # C1, C2, K5, K6, K7 (C3 withdrawn); first response met: C1, K5, K6, K7;
    # fact-finding (C1, C2 carry it) met without breach: C2.
    "complaint_first_response_rate": (4, 5),
    "complaint_fact_finding_rate": (1, 2),
    "complaint_handling_satisfaction_rate": (1, 2),
    # booked and not cancelled: R1, R2, R3; no-show: R2.
    "no_show_rate": (1, 3),
    "sms_delivery_rate": (0, 0),
    # No enquiry, praise or suggestion in the script: rates over nothing; the shares of praise
    # and suggestions are out of everything received, here the complaints C1-C3, K5-K7.
    "enquiry_answered_in_time_rate": (0, 0),
    "enquiry_answered_in_time_rate_online": (0, 0),
    "enquiry_answered_in_time_rate_onsite": (0, 0),
    "enquiry_answered_in_time_rate_phone": (0, 0),
    "praise_share": (0, 6),
    "suggestion_share": (0, 6),
    "suggestion_adoption_rate": (0, 0),
    # The procedure, of C1, C2 and K5-K7 (C3 withdrawn): C1 founded (no decision on the
    # others), escalated and settled, no accountability record; no unfounded case.
    "complaint_founded_rate": (1, 1),
    "complaint_unfounded_closed_rate": (0, 0),
    "complaint_director_escalation_rate": (1, 5),
    "complaint_accountability_rate": (0, 1),
    "complaint_settlement_rate": (1, 1),
    # complex K5 answered in time, K7 breached its 72 h; imaging K6 never confirmed (past due).
    "complaint_complex_answer_rate": (1, 2),
    "imaging_dispute_confirmation_rate": (0, 1),
    # one answer per quality-check call: D2's spot check 不满意, R1's second call 满意.
    "spot_check_satisfaction_rate": (0, 1),
    "second_call_satisfaction_rate": (1, 1),
}

# KPI -> (numerator, matured denominator, pending) for the day of `todays_cohorts`, by hand;
# a KPI not listed is (0, 0, 0).
EXPECTED_TODAY: dict[str, tuple[int, int, int]] = {
    # T2 reached (met), T3 unreached after every attempt (missed), T1 not yet due (pending).
    "followup_inpatient_rate": (1, 2, 1),
    # U1 planned, U2 not sampled: both inside their window.
    "followup_outpatient_rate": (0, 0, 2),
    "followup_first_visit_rate": (0, 0, 2),
    "satisfaction_rate": (1, 1, 0),  # T2
    # T1-T3, U1, U2; answered: T2; the others' survey links are still open: pending
    "survey_coverage_rate": (1, 1, 4),
    # K2 acknowledged (met); K1 and K3 opened seconds ago: pending, not missed 24 h answers.
    "complaint_first_response_rate": (1, 1, 2),
    "complaint_fact_finding_rate": (0, 0, 1),  # K1
    "complaint_complex_answer_rate": (0, 0, 1),  # K1
    "imaging_dispute_confirmation_rate": (1, 1, 1),  # K3 confirmed, K2 running
    "no_show_rate": (0, 2, 0),  # U1, U2: their visit time has passed, both came
    "praise_share": (0, 3, 0),  # out of K1-K3
    "suggestion_share": (0, 3, 0),
    "complaint_director_escalation_rate": (0, 3, 0),  # K1-K3 opened, none escalated
}
