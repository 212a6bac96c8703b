"""Survey links by SMS: which contacts get one and when, the token (opaque, never stored),
the page's refusals, CSRF value and rate limits. Pure rules; the real-stack path is in
tests/integration/test_survey_by_sms_link.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hospital_shared import events as ev
from hospital_shared.events import Disposition, VisitType
from hospital_shared.questionnaires import ContactKind, default
from hospital_shared.service_events.complaints import CasePatient, ComplaintCaseChanged
from notifications import survey_page, survey_policy
from notifications.policy import PlanningRules
from notifications.survey_answers import given_answers
from notifications.survey_links import (
    RateLimiter,
    SurveyRules,
    csrf_for,
    hidden_url,
    is_token,
    link_id_for,
    reveal,
    token_for,
    token_hash,
)

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SH)
EVERY_CONTACT = frozenset(
    {"inpatient_discharge", "outpatient_visit", "first_visit", "complaint_check"}
)
RULES = PlanningRules(
    tz=SH,
    common={"hospital": "医院"},
    survey=SurveyRules(contacts=EVERY_CONTACT, link_base="https://h.example/s"),
)
PATIENT = ev.Patient(patient_id="P1", name="张三", phone="13800138000")
DEPT = ev.Department(code="CARD", name="心内科")


def visit(visit_type: VisitType = VisitType.RETURN) -> ev.RegistrationCreated:
    return ev.RegistrationCreated(
        registration_id="R1", patient=PATIENT, department=DEPT, visit_type=visit_type,
        channel=ev.RegistrationChannel.ONLINE, registered_at=NOW - timedelta(days=1),
        appointment_at=NOW,
    )  # fmt: skip


def discharge(disposition: Disposition) -> ev.PatientDischarged:
    return ev.PatientDischarged(
        admission_id="A1", patient=PATIENT, department=DEPT, admitted_at=NOW - timedelta(days=3),
        discharged_at=NOW, disposition=disposition,
    )  # fmt: skip


def test_a_visit_is_surveyed_a_day_after_its_appointment_with_one_reminder_on_the_same_link() -> (
    None
):
    plan = survey_policy.plan_visit_survey(visit(), "ev-1", RULES)
    (invitation,) = plan.messages  # the reminder is made when due (survey_reminders.py)
    (link,) = plan.surveys
    assert invitation.template == "patient_survey_invitation"
    assert invitation.due_at == NOW + timedelta(hours=24)
    assert link.reminder_due_at == NOW + timedelta(hours=24 + 72)
    assert link.reminder_key == invitation.key
    # what the reminder job makes of the link's row
    row = {
        "link_id": link.link_id, "reminder_key": link.reminder_key,
        "reminder_due_at": link.reminder_due_at, "expires_at": link.expires_at,
        "contact_ref": link.contact_ref, "patient_id": link.patient_id,
    }  # fmt: skip
    reminder = survey_policy.reminder_of(row, RULES)
    assert reminder.template == "patient_survey_reminder"
    assert reminder.due_at == NOW + timedelta(hours=24 + 72)
    assert reminder.expires_at == link.expires_at == NOW + timedelta(hours=24, days=7)
    assert invitation.context == reminder.context  # the same link, the same hospital
    assert reminder.key == invitation.key  # its message's key is the planned reminder's
    assert invitation.subject_ref == reminder.subject_ref == link.contact_ref == "registration:R1"
    assert reminder.patient_id == invitation.patient_id
    assert link.contact_kind == "outpatient_visit"


def test_a_first_visit_gets_the_first_visit_questionnaire() -> None:
    (link,) = survey_policy.plan_visit_survey(visit(VisitType.FIRST), "ev-1", RULES).surveys
    assert link.contact_kind == "first_visit"


def test_no_survey_after_a_transfer_or_a_death_and_none_for_contacts_switched_off() -> None:
    for disposition in (Disposition.TRANSFERRED, Disposition.DECEASED):
        assert (
            survey_policy.plan_discharge_survey(discharge(disposition), "e", RULES).messages == ()
        )
    home = survey_policy.plan_discharge_survey(discharge(Disposition.HOME), "e", RULES)
    assert home.surveys[0].contact_kind == "inpatient_discharge"
    off = PlanningRules(tz=SH, survey=SurveyRules(contacts=frozenset()))
    assert survey_policy.plan_visit_survey(visit(), "e", off).messages == ()
    assert survey_policy.plan_discharge_survey(discharge(Disposition.HOME), "e", off).messages == ()


def test_no_reminder_when_switched_off() -> None:
    rules = PlanningRules(tz=SH, survey=SurveyRules(contacts=EVERY_CONTACT, reminder_after=None))
    plan = survey_policy.plan_visit_survey(visit(), "e", rules)
    assert len(plan.messages) == 1
    assert plan.surveys[0].reminder_due_at is None and plan.surveys[0].reminder_key is None


def case(type_status: str, *, due: datetime | None, opt_out: bool = False) -> ComplaintCaseChanged:
    return ComplaintCaseChanged(
        case_number="TS-1", status=type_status, cycle=2, channel="phone", category="staff_attitude",  # type: ignore[arg-type]
        category_source="submitted", priority="normal", serious=False, complex=False,  # type: ignore[arg-type]
        department_code="CARD", patient=CasePatient(patient_id="P1", sms_opt_out=opt_out),
        satisfaction_check_due_at=due, occurred_at=NOW,
    )  # fmt: skip


def test_a_closed_complaint_gets_its_satisfaction_check_by_link_before_the_check_is_due() -> None:
    plan = survey_policy.plan_complaint_check(
        "complaint.case_closed", case("closed", due=NOW + timedelta(hours=48)), NOW, RULES
    )
    assert plan.messages[0].template == "complaint_survey_invitation"
    assert plan.messages[0].due_at == NOW + timedelta(hours=48)  # not the 72 h default: due
    assert plan.surveys[0].contact_ref == "case:TS-1" and plan.surveys[0].case_cycle == 2
    opted = case("closed", due=None, opt_out=True)
    assert (
        survey_policy.plan_complaint_check("complaint.case_closed", opted, NOW, RULES).messages
        == ()
    )
    other = case("communicated", due=None)
    assert (
        survey_policy.plan_complaint_check(
            "complaint.case_communicated", other, NOW, RULES
        ).messages
        == ()
    )


def test_a_token_is_the_hmac_of_its_link_id_that_links_already_sent_carry() -> None:
    mac = hmac.new(b"secret", b"survey-link:abc", hashlib.sha256).digest()
    expected = base64.urlsafe_b64encode(mac).decode()[:32]
    assert token_for("secret", "abc") == expected
    assert token_for("secret", "abc") == expected  # the keyed HMAC is reused, not changed
    assert token_for("other", "abc") != expected


def test_the_token_is_opaque_and_only_the_sms_as_sent_carries_it() -> None:
    link_id = link_id_for("ev-1", "registration:R1")
    stored = f"请评价：{hidden_url('https://h.example/s', link_id)} 回复退订不再接收"
    sent = reveal(stored, "secret")
    token = token_for("secret", link_id)
    assert token in sent and link_id not in sent and len(sent) == len(stored)
    assert is_token(token) and "P1" not in token and "R1" not in token
    assert token_for("other secret", link_id) != token
    assert len(token_hash(token)) == 32 and token_hash(token) != token.encode()
    assert (
        not is_token(token[:-1]) and not is_token(token + "A") and not is_token("../" + token[3:])
    )


def test_the_csrf_value_is_bound_to_the_link_and_to_the_cookies_nonce() -> None:
    a, b = token_hash("a" * 32), token_hash("b" * 32)
    assert csrf_for("s", a, "n1") == csrf_for("s", a, "n1")
    assert len({csrf_for("s", a, "n1"), csrf_for("s", a, "n2"), csrf_for("s", b, "n1")}) == 3


def test_the_rate_limiter_lets_through_the_limit_per_window_and_then_refuses() -> None:
    limiter = RateLimiter(3, 60.0, max_keys=2)
    assert [limiter.allow("t", now=0.0) for _ in range(5)] == [True, True, True, False, False]
    assert limiter.allow("t", now=61.0)
    limiter.allow("u", now=61.0)
    limiter.allow("v", now=61.0)  # only two keys kept: the oldest (t) forgotten
    assert len(limiter._hits) == 2


def test_a_form_field_that_is_not_a_question_is_refused_as_an_unknown_question() -> None:
    assert given_answers({"q.overall": "满意", "s.overall": "4", "t.comments": "好"}) == {
        "overall": {"satisfaction": "满意", "score": "4"},
        "comments": {"text": "好"},
    }
    for name in ("x.overall", "overall", "q.", "patient_id"):
        try:
            given_answers({name: "1"})
        except ValueError:
            continue
        raise AssertionError(name)


def test_the_page_escapes_what_it_shows_and_loads_nothing_from_outside() -> None:
    page = survey_page.form_page(
        default(ContactKind.OUTPATIENT_VISIT), hospital="<医院>", action="/s/x", csrf="c",
        given={"comments": {"text": "</textarea><script>alert(1)</script>"}},
    )  # fmt: skip
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;医院&gt;" in page
    assert "http" not in page and "src=" not in page
    for reason in survey_page.REFUSALS:
        status, body = survey_page.refusal_page(reason, "医院")
        assert 400 <= status < 600 and "Traceback" not in body


def test_after_a_rotation_each_link_is_revealed_with_the_secret_it_was_made_with() -> None:
    import pytest

    from notifications.settings import Settings
    from notifications.survey_links import (
        csrf_for,
        csrf_matches,
        hidden_links,
        hidden_url,
        reveal,
        reveal_rotated,
        token_for,
        token_hash,
    )

    old_link, new_link, unknown = "a" * 31, "b" * 31, "c" * 31
    body = " ".join(hidden_url("https://h/s", i) for i in (old_link, new_link, unknown))
    assert hidden_links(body) == [old_link, new_link, unknown]
    stored = {
        old_link: token_hash(token_for("old", old_link)),
        new_link: token_hash(token_for("new", new_link)),
    }
    revealed = reveal_rotated(body, ("new", "old"), stored)
    assert revealed.split() == [
        f"https://h/s/{token_for('old', old_link)}",
        f"https://h/s/{token_for('new', new_link)}",
        f"https://h/s/{token_for('new', unknown)}",  # no row: the current secret's
    ]
    assert reveal_rotated(body, ("new",), stored) == reveal(body, "new")
    form = csrf_for("old", b"h", "n")
    assert csrf_matches(("new", "old"), b"h", "n", form)
    assert not csrf_matches(("new",), b"h", "n", form)
    assert Settings(survey_previous_secrets=("old",)).survey_secrets == ("dev-survey-secret", "old")
    with pytest.raises(ValueError, match="public development value"):
        Settings(callback_previous_secrets=("dev-callback-secret",))
