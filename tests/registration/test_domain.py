"""The visit rules: held cancellations, repeats, conflicts, discharges completed from the
admission. Pure: a Ledger and plain intakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hospital_shared.events import (
    DischargeCancelled,
    PatientDischarged,
    RegistrationCancelled,
    RegistrationCreated,
    RegistrationNoShow,
)
from registration.domain import Kind, Ledger, Status
from registration.intake import Admission, DischargeNotice, Intake, VisitCancelled
from registration.phones import normalise_phone
from registration.repository import record_text
from tests.factories import discharge, registration

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def intake(type_: str, data: Any, event_id: str) -> Intake:
    return Intake(type_, data, event_id, NOW, "urn:test")


def created(n: int = 1, **over: Any) -> Intake:
    data = RegistrationCreated.model_validate(registration(n, **over)["data"])
    return intake("registration.created", data, f"created-{n}")


def cancelled(n: int = 1) -> Intake:
    data = RegistrationCancelled(registration_id=f"R{n:06d}", cancelled_at=NOW)
    return intake("registration.cancelled", data, f"cancel-{n}")


def ledger() -> Ledger:
    return Ledger(normalise=normalise_phone)


def test_registration_is_stored_and_published_with_a_normalised_phone() -> None:
    book = ledger()
    result = book.apply(created(1))
    [out] = result.published
    assert out.type == "registration.created"
    assert out.patient_id == "P000001"
    assert out.data.patient.phone == "+8613800138000"  # type: ignore[attr-defined]
    assert out.phone_status == "valid"
    assert book.visits[(Kind.REGISTRATION, "R000001")].status == Status.REGISTERED


def test_unusable_phone_is_kept_flagged_and_does_not_reject_the_visit() -> None:
    book = ledger()
    patient = {"patient_id": "P000002", "name": "李四", "phone": "12345"}
    [out] = book.apply(created(2, patient=patient)).published
    assert out.data.patient.phone == "12345"  # type: ignore[attr-defined]
    assert out.phone_status == "unusable"
    assert book.visits[(Kind.REGISTRATION, "R000002")].phone_usable is False


def test_cancellation_before_its_registration_is_held_then_applied_in_order() -> None:
    book = ledger()
    early = book.apply(cancelled(3))
    assert early.held and not early.published
    result = book.apply(created(3))
    assert [o.type for o in result.published] == ["registration.created", "registration.cancelled"]
    assert all(o.patient_id == "P000003" for o in result.published)
    assert book.visits[(Kind.REGISTRATION, "R000003")].status == Status.CANCELLED
    assert (Kind.REGISTRATION, "R000003") in book.pending_changed


def test_repeats_are_ignored_not_published_again() -> None:
    book = ledger()
    book.apply(created(4))
    assert book.apply(created(4)).ignored
    book.apply(cancelled(4))
    again = book.apply(cancelled(4))
    assert again.ignored and not again.published


def test_no_show_of_a_cancelled_visit_is_a_conflict() -> None:
    book = ledger()
    book.apply(created(5))
    book.apply(cancelled(5))
    result = book.apply(
        intake("registration.no_show", RegistrationNoShow(registration_id="R000005"), "ns-5")
    )
    assert result.rejection is not None
    assert result.rejection.field == "registration_id"


def admission(n: int) -> Intake:
    data = Admission(
        admission_id=f"A{n:06d}",
        patient={"patient_id": f"P{n:06d}", "name": "王五", "phone": "13900139000"},
        department={"code": "CARD", "name": "心内科"},
        admitted_at=NOW - timedelta(days=4),
    )
    return intake("admission.recorded", data, f"adm-{n}")


def test_a03_discharge_is_completed_from_the_stored_admission() -> None:
    book = ledger()
    assert book.apply(admission(6)).published == []  # an admission alone publishes nothing
    notice = DischargeNotice(
        admission_id="A000006", fields={"discharged_at": NOW.isoformat(), "disposition": "home"}
    )
    [out] = book.apply(intake("discharge.notice", notice, "dis-6")).published
    assert out.type == "patient.discharged"
    assert isinstance(out.data, PatientDischarged)
    assert out.data.admitted_at == NOW - timedelta(days=4)
    assert out.data.patient.phone == "+8613900139000"


def test_a03_without_admission_or_admit_time_is_rejected_naming_the_field() -> None:
    notice = DischargeNotice(admission_id="A000007", fields={"discharged_at": NOW.isoformat()})
    result = ledger().apply(intake("discharge.notice", notice, "dis-7"))
    assert result.rejection is not None
    assert result.rejection.kind == "missing"


def test_discharge_cancellation_before_the_discharge_waits_for_it() -> None:
    book = ledger()
    book.apply(admission(8))
    cancel = intake("discharge.cancelled", DischargeCancelled(admission_id="A000008"), "dc-8")
    assert book.apply(cancel).held
    data = PatientDischarged.model_validate(discharge(8)["data"])
    result = book.apply(intake("patient.discharged", data, "dis-8"))
    assert [o.type for o in result.published] == ["patient.discharged", "discharge.cancelled"]
    assert book.visits[(Kind.ADMISSION, "A000008")].status == Status.ADMITTED


def test_a11_before_a01_cancels_the_admission_when_it_arrives_and_blocks_its_discharge() -> None:
    book = ledger()
    cancel = VisitCancelled(visit_id="A000009", inpatient=True, cancelled_at=NOW)
    assert book.apply(intake("visit.cancelled", cancel, "a11-9")).held
    book.apply(admission(9))
    assert book.visits[(Kind.ADMISSION, "A000009")].status == Status.ADMISSION_CANCELLED
    notice = DischargeNotice(admission_id="A000009", fields={"discharged_at": NOW.isoformat()})
    assert book.apply(intake("discharge.notice", notice, "dis-9")).rejection is not None


def test_a11_for_an_outpatient_visit_publishes_a_registration_cancellation() -> None:
    book = ledger()
    book.apply(created(10))
    cancel = VisitCancelled(visit_id="R000010", inpatient=False, cancelled_at=NOW)
    [out] = book.apply(intake("visit.cancelled", cancel, "a11-10")).published
    assert out.type == "registration.cancelled"
    assert out.patient_id == "P000010"


def test_a_new_visit_is_stored_as_the_json_it_is_read_back_as() -> None:
    book = ledger()
    book.apply(created(3, doctor=None))
    visit = book.visits[(Kind.REGISTRATION, "R000003")]
    stored = json.loads(record_text(visit))  # written straight from the model
    assert stored == visit.record_json()  # the form a later batch loads and merges
    assert stored["patient"]["phone"] == "+8613800138000" and "doctor" not in stored
