"""The visit rules: held cancellations, repeats, conflicts, discharges completed from the
admission. Pure: a Ledger and plain intakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hospital_shared.codec import decode
from hospital_shared.events import (
    Complainant,
    ComplaintSubmitted,
    DischargeCancelled,
    FeedbackSubmitted,
    PatientDischarged,
    RegistrationCancelled,
    RegistrationCreated,
    RegistrationNoShow,
)
from hospital_shared.field_crypto import open_, seal
from hospital_shared.service_events.registration import PatientDetailsUpdated
from registration.domain import Kind, Ledger, Status, Visit, visit_keys
from registration.ingest import outbox_row
from registration.intake import Admission, DischargeNotice, Intake, VisitCancelled
from registration.phones import normalise_phone
from registration.repository import sealed_record, stored_record
from tests.factories import complaint, discharge, registration

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def intake(type_: str, data: Any, event_id: str, time: datetime = NOW) -> Intake:
    return Intake(type_, data, event_id, time, "urn:test")


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
    assert result.rejection.message == "the registration is cancelled"  # what the sender reads


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
    assert result.rejection.field == "patient"  # the first it lacks, in the event's order


def test_a_complete_a03_for_an_admission_never_seen_is_published() -> None:
    """An A03 that carries the patient, ward and admit time (PV1-44) needs no stored A01 (a
    hospital connected after the patient was admitted): its admission id is PV1-19's. It was
    refused as missing `admission_id`."""
    fields = {
        "patient": {"patient_id": "P000022", "name": "王五", "phone": "13900139000"},
        "department": {"code": "CARD", "name": "心内科"},
        "admitted_at": (NOW - timedelta(days=3)).isoformat(),
        "discharged_at": NOW.isoformat(),
        "disposition": "home",
    }
    notice = DischargeNotice(admission_id="A000022", fields=fields)
    result = ledger().apply(intake("discharge.notice", notice, "dis-22"))
    assert result.rejection is None
    [out] = result.published
    assert isinstance(out.data, PatientDischarged) and out.data.admission_id == "A000022"


def test_discharge_cancellation_before_the_discharge_waits_for_it() -> None:
    book = ledger()
    book.apply(admission(8))
    cancel = intake("discharge.cancelled", DischargeCancelled(admission_id="A000008"), "dc-8")
    assert book.apply(cancel).held
    data = PatientDischarged.model_validate(discharge(8)["data"])
    result = book.apply(intake("patient.discharged", data, "dis-8"))
    assert [o.type for o in result.published] == ["patient.discharged", "discharge.cancelled"]
    assert book.visits[(Kind.ADMISSION, "A000008")].status == Status.DISCHARGE_CANCELLED


def test_a11_before_a01_cancels_the_admission_when_it_arrives_and_blocks_its_discharge() -> None:
    book = ledger()
    cancel = VisitCancelled(visit_id="A000009", inpatient=True, cancelled_at=NOW)
    assert book.apply(intake("visit.cancelled", cancel, "a11-9")).held
    book.apply(admission(9))
    assert book.visits[(Kind.ADMISSION, "A000009")].status == Status.ADMISSION_CANCELLED
    notice = DischargeNotice(admission_id="A000009", fields={"discharged_at": NOW.isoformat()})
    assert book.apply(intake("discharge.notice", notice, "dis-9")).rejection is not None


def test_a11_without_a_patient_class_for_a_visit_not_known_yet_is_refused_naming_it() -> None:
    """Held as an admission's (an empty PV1-2 read as inpatient), it was never applied when
    the A04 came: the visit stayed booked, the hold was given up, the patient reminded."""
    book = ledger()
    cancel = VisitCancelled(visit_id="R000011", inpatient=None, cancelled_at=NOW)
    result = book.apply(intake("visit.cancelled", cancel, "a11-11"))
    assert not result.held and result.rejection is not None
    assert result.rejection.field == "inpatient" and not book.pending
    # once the visit is known, an empty class is no matter: it is that visit's cancellation
    book.apply(created(11))
    [out] = book.apply(intake("visit.cancelled", cancel, "a11-11b")).published
    assert out.type == "registration.cancelled"


@pytest.mark.parametrize("inpatient", [False, True, None])
def test_a11_for_a_known_outpatient_visit_publishes_a_registration_cancellation(
    inpatient: bool | None,
) -> None:
    """Even when the A11 says inpatient: the visit we know is an outpatient one."""
    book = ledger()
    book.apply(created(10))
    cancel = VisitCancelled(visit_id="R000010", inpatient=inpatient, cancelled_at=NOW)
    [out] = book.apply(intake("visit.cancelled", cancel, "a11-10")).published
    assert out.type == "registration.cancelled"
    assert out.patient_id == "P000010"
    assert book.visits[(Kind.REGISTRATION, "R000010")].status == Status.CANCELLED


def test_a_new_visit_is_stored_as_the_json_it_is_read_back_as() -> None:
    book = ledger()
    book.apply(created(3, doctor=None))
    visit = book.visits[(Kind.REGISTRATION, "R000003")]
    sealed = sealed_record(visit)  # written straight from the model, sealed
    assert sealed is not None and sealed.startswith("enc1:") and "R000003" not in sealed
    stored = json.loads(open_(sealed) or "")
    assert "phone" not in stored["patient"] and "doctor" not in stored  # the phone kept apart
    row = {
        "record": sealed,
        "patient_id": visit.patient_id,
        "patient_phone": seal("+8613800138000"),
    }
    assert stored_record(row) == visit.record_json()  # the form a later batch loads and merges


def test_an_unknown_intake_type_is_rejected_naming_the_type() -> None:
    result = ledger().apply(intake("registration.teleported", created(1).data, "x-1"))
    assert result.rejection is not None and result.rejection.field == "type"
    assert not result.published


def test_a_repeated_admission_or_discharge_is_ignored() -> None:
    book = ledger()
    book.apply(admission(11))
    again = book.apply(admission(11))
    assert again.ignored and not again.published
    data = PatientDischarged.model_validate(discharge(11)["data"])
    assert book.apply(intake("patient.discharged", data, "dis-11")).published
    repeat = book.apply(intake("patient.discharged", data, "dis-11b"))
    assert repeat.ignored and not repeat.published


def test_a_cancelled_admission_takes_no_discharge_naming_the_admission() -> None:
    book = ledger()
    book.apply(admission(12))
    cancel = VisitCancelled(visit_id="A000012", inpatient=True, cancelled_at=NOW)
    assert book.apply(intake("visit.cancelled", cancel, "a11-12")).published == []
    data = PatientDischarged.model_validate(discharge(12)["data"])
    result = book.apply(intake("patient.discharged", data, "dis-12"))
    assert result.rejection is not None and result.rejection.field == "admission_id"
    assert book.visits[(Kind.ADMISSION, "A000012")].status == Status.ADMISSION_CANCELLED


def test_a_cancelled_discharge_puts_the_patient_back_on_the_ward_and_is_published() -> None:
    book = ledger()
    data = PatientDischarged.model_validate(discharge(13)["data"])
    book.apply(intake("patient.discharged", data, "dis-13"))
    cancel = intake("discharge.cancelled", DischargeCancelled(admission_id="A000013"), "dc-13")
    [out] = book.apply(cancel).published
    assert (out.type, out.patient_id) == ("discharge.cancelled", "P000013")
    assert book.visits[(Kind.ADMISSION, "A000013")].status == Status.DISCHARGE_CANCELLED


def test_a_discharge_cancellation_resent_under_a_new_id_is_a_repeat_not_held_for_the_next() -> None:
    # A01, A03, A13, the A13 again (new MSH-10), then the real A03: the repeat was held while
    # the patient was back on the ward and cancelled the real discharge as soon as it came.
    book = ledger()
    book.apply(admission(30))
    first = PatientDischarged.model_validate(discharge(30)["data"])
    book.apply(intake("patient.discharged", first, "dis-30"))
    cancel = DischargeCancelled(admission_id="A000030")
    assert [
        o.type for o in book.apply(intake("discharge.cancelled", cancel, "dc-30")).published
    ] == ["discharge.cancelled"]
    repeat = book.apply(intake("discharge.cancelled", cancel, "dc-30-resent"))
    assert (repeat.held, repeat.published, repeat.rejection) == (False, [], None)
    assert repeat.ignored
    real = first.model_copy(update={"discharged_at": NOW + timedelta(days=3)})
    result = book.apply(intake("patient.discharged", real, "dis-30-real"))
    assert [o.type for o in result.published] == ["patient.discharged"]
    assert book.visits[(Kind.ADMISSION, "A000030")].status == Status.DISCHARGED
    assert (Kind.ADMISSION, "A000030") not in book.pending


def discharged_and_cancelled(n: int) -> tuple[Ledger, PatientDischarged, DischargeCancelled]:
    """A01, A03 (discharged at NOW), A13 recorded an hour later (EVN-2)."""
    book = ledger()
    book.apply(admission(n))
    first = PatientDischarged.model_validate(discharge(n)["data"])
    book.apply(intake("patient.discharged", first, f"dis-{n}"))
    cancel = DischargeCancelled(admission_id=f"A{n:06d}")
    book.apply(intake("discharge.cancelled", cancel, f"dc-{n}", NOW + timedelta(hours=1)))
    return book, first, cancel


def test_the_cancellation_of_a_second_discharge_that_overtakes_its_a03_cancels_it() -> None:
    # Discharged, cancelled, discharged again and cancelled again, the second A13 (recorded
    # later) overtaking the second A03: it was ignored as a repeat of the first A13, and the
    # second discharge published alone planned a follow-up call for a patient on the ward.
    book, first, cancel = discharged_and_cancelled(31)
    later = NOW + timedelta(days=2, hours=1)
    early = book.apply(intake("discharge.cancelled", cancel, "dc-31-second", later))
    assert (early.held, early.published, early.ignored) == (True, [], None)
    again = first.model_copy(update={"discharged_at": NOW + timedelta(days=2)})
    result = book.apply(intake("patient.discharged", again, "dis-31-second", later))
    assert [o.type for o in result.published] == ["patient.discharged", "discharge.cancelled"]
    assert book.visits[(Kind.ADMISSION, "A000031")].status == Status.DISCHARGE_CANCELLED
    assert (Kind.ADMISSION, "A000031") not in book.pending
    # either A13 resent under a new MSH-10 (its own EVN-2) is a repeat still
    for n, time in enumerate((NOW + timedelta(hours=1), later)):
        repeat = book.apply(intake("discharge.cancelled", cancel, f"dc-31-resent-{n}", time))
        assert (repeat.held, repeat.published, repeat.rejection) == (False, [], None)


def test_the_first_discharge_cancellation_resent_after_the_next_discharge_leaves_it() -> None:
    # The first A13 resent (same EVN-2, new MSH-10) once the patient was discharged again: it
    # cancelled the new, real discharge.
    book, first, cancel = discharged_and_cancelled(32)
    again = first.model_copy(update={"discharged_at": NOW + timedelta(days=2)})
    book.apply(intake("patient.discharged", again, "dis-32-second", NOW + timedelta(days=2)))
    repeat = book.apply(
        intake("discharge.cancelled", cancel, "dc-32-resent", NOW + timedelta(hours=1))
    )
    assert (repeat.held, repeat.published, repeat.rejection) == (False, [], None)
    assert repeat.ignored
    assert book.visits[(Kind.ADMISSION, "A000032")].status == Status.DISCHARGED


def back_on_the_ward_as_stored(n: int, held_a13_at: datetime, **record: Any) -> Ledger:
    """A ledger as loaded from the database: admission n `discharge_cancelled` (its record the
    first discharge's, plus `record`), an A13 held for it (recorded at `held_a13_at`)."""
    book = ledger()
    stored = {**discharge(n)["data"], **record}
    key = (Kind.ADMISSION, f"A{n:06d}")
    book.visits[key] = Visit(*key, f"P{n:06d}", Status.DISCHARGE_CANCELLED, stored)
    cancel = DischargeCancelled(admission_id=f"A{n:06d}")
    book.pending[key] = [intake("discharge.cancelled", cancel, f"dc-{n}-held", held_a13_at)]
    return book


def discharged_again(book: Ledger, n: int, at: datetime) -> list[str]:
    """The patient's next A03 (discharged at `at`): the types it publishes."""
    again = PatientDischarged.model_validate(discharge(n, discharged_at=at.isoformat())["data"])
    result = book.apply(intake("patient.discharged", again, f"dis-{n}-again", at))
    return [o.type for o in result.published]


def test_an_a13_resend_held_before_the_upgrade_does_not_cancel_the_next_discharge() -> None:
    # 0.14.0 put a discharge cancelled by A13 back to plain `admitted` (migration 360 renamed
    # it `discharge_cancelled`, keeping no cancellation time) and held the same A13 resent
    # under a new MSH-10: after the upgrade it was released after the patient's next, real
    # A03 and cancelled it (follow-up withdrew the call, notifications the notice).
    book = back_on_the_ward_as_stored(33, NOW + timedelta(hours=1))
    assert discharged_again(book, 33, NOW + timedelta(days=2)) == ["patient.discharged"]
    assert book.visits[(Kind.ADMISSION, "A000033")].status == Status.DISCHARGED
    assert (Kind.ADMISSION, "A000033") not in book.pending
    assert (Kind.ADMISSION, "A000033") in book.pending_changed  # its row is deleted
    [(dropped, why)] = book.dropped  # logged for operators, with its MSH-10 and time
    assert (dropped.event_id, why.field) == ("dc-33-held", "admission_id")


def test_an_a13_held_for_a_later_discharge_since_the_upgrade_still_cancels_it() -> None:
    # The same, but the cancellation's time is kept (as it is since): an A13 recorded after
    # it was held for the discharge whose A03 it overtook, and cancels it.
    cancelled_at = {"discharge_cancelled_at": (NOW + timedelta(hours=1)).isoformat()}
    book = back_on_the_ward_as_stored(34, NOW + timedelta(days=2, hours=1), **cancelled_at)
    published = discharged_again(book, 34, NOW + timedelta(days=2))
    assert published == ["patient.discharged", "discharge.cancelled"]
    assert book.visits[(Kind.ADMISSION, "A000034")].status == Status.DISCHARGE_CANCELLED
    assert book.dropped == []


def test_a_cancellation_sent_twice_before_its_visit_is_held_and_published_once() -> None:
    book = ledger()
    assert book.apply(cancelled(14)).held
    assert book.apply(cancelled(14)).held  # the same event again (a redelivery)
    assert len(book.pending[(Kind.REGISTRATION, "R000014")]) == 1
    result = book.apply(created(14))
    assert [o.type for o in result.published] == ["registration.created", "registration.cancelled"]
    assert (Kind.REGISTRATION, "R000014") not in book.pending


def test_a_held_no_show_that_no_longer_fits_is_dropped_with_its_reason() -> None:
    """A cancellation and then a no-show arrive before their visit: once it comes, the
    cancellation applies and the no-show, now a conflict, is dropped (kept with its reason),
    not published."""
    book = ledger()
    book.apply(cancelled(15))
    no_show = intake("registration.no_show", RegistrationNoShow(registration_id="R000015"), "ns")
    book.apply(no_show)
    result = book.apply(created(15))
    assert [o.type for o in result.published] == ["registration.created", "registration.cancelled"]
    [(dropped, why)] = book.dropped
    assert dropped is no_show and why.field == "registration_id"


def test_updated_patient_details_reach_every_visit_of_that_patient_only() -> None:
    book = ledger()
    book.apply(created(16))
    book.apply(created(17))
    book.apply(admission(17))
    book.apply(created(18))
    book.changed.clear()
    new = {"patient_id": "P000017", "name": "张三丰", "phone": "12345"}
    update = PatientDetailsUpdated.model_validate({"patient": new, "updated_at": NOW})
    [out] = book.apply(intake("patient.details_updated", update, "a08-17")).published
    assert (out.type, out.patient_id, out.phone_status) == (
        "patient.details_updated", "P000017", "unusable",
    )  # fmt: skip
    assert book.changed == {(Kind.REGISTRATION, "R000017"), (Kind.ADMISSION, "A000017")}
    for key in book.changed:
        assert book.visits[key].record_json()["patient"]["name"] == "张三丰"
        assert book.visits[key].phone_usable is False
    for other in ("R000016", "R000018"):
        assert book.visits[(Kind.REGISTRATION, other)].phone_usable is True
    assert [p.patient_id for p in book.patient_updates] == ["P000017"]


def test_a_complaint_is_keyed_by_its_patient_or_else_by_its_own_id() -> None:
    book = ledger()
    with_patient = ComplaintSubmitted.model_validate(complaint("C-1")["data"])
    [out] = book.apply(intake("complaint.submitted", with_patient, "c-1")).published
    assert (out.patient_id, out.phone_status) == ("P000001", "valid")
    assert out.data.patient.phone == "+8613800138000"  # type: ignore[attr-defined]
    anonymous = ComplaintSubmitted.model_validate(complaint("C-2", patient=None)["data"])
    [out] = book.apply(intake("complaint.submitted", anonymous, "c-2")).published
    assert (out.patient_id, out.phone_status) == ("C-2", None)


def test_praise_is_keyed_like_a_complaint_with_the_patients_phone_normalised() -> None:
    data = complaint("F-1")["data"]
    praise = FeedbackSubmitted.model_validate(
        {
            "external_id": "F-1",
            "kind": "praise",
            "channel": "suggestion_box",
            "patient": data["patient"],
            "text": "护士很耐心",
            "submitted_at": data["submitted_at"],
        }
    )
    [out] = ledger().apply(intake("feedback.submitted", praise, "f-1")).published
    assert (out.type, out.patient_id, out.phone_status) == (
        "feedback.submitted",
        "P000001",
        "valid",
    )
    assert out.data.patient.phone == "+8613800138000"  # type: ignore[attr-defined]
    anonymous = praise.model_copy(update={"patient": None})
    [out] = ledger().apply(intake("feedback.submitted", anonymous, "f-2")).published
    assert (out.patient_id, out.phone_status) == ("F-1", None)


def test_a_relative_without_a_patient_id_is_keyed_by_the_complaint_and_keeps_name_and_phone() -> (
    None
):
    """A relative or visitor the hospital has no id for: published under the complaint's own
    id, their name kept and their phone normalised as a patient's (the complaints service
    texts the acknowledgement to it); praise from one likewise."""
    relative = {"name": "陈静", "phone": "139 1234 5678"}
    data = ComplaintSubmitted.model_validate(complaint("C-4", patient=relative)["data"])
    [out] = ledger().apply(intake("complaint.submitted", data, "c-4")).published
    assert (out.patient_id, out.phone_status) == ("C-4", "valid")
    assert out.data.patient == Complainant(name="陈静", phone="+8613912345678")  # type: ignore[attr-defined]
    _, topic, key, payload = outbox_row(out)
    sent = decode(payload, expected_topic=topic)
    assert (key, sent.subject, sent.data.patient.name) == ("C-4", "C-4", "陈静")
    praise = FeedbackSubmitted(
        external_id="F-4", kind="praise", channel="online", patient=relative, text="谢谢护士",
        submitted_at=NOW,
    )  # fmt: skip
    [out] = ledger().apply(intake("feedback.submitted", praise, "f-4")).published
    assert (out.patient_id, out.data.patient.phone) == ("F-4", "+8613912345678")  # type: ignore[attr-defined]


def test_a_patient_by_id_without_a_phone_is_keyed_by_the_patient_and_flagged_for_nothing() -> None:
    """A patient named by id alone (a follow-up objection from a call with no phone on the
    task): published under the patient as any complaint of theirs, no phone to normalise and
    no phone status to flag; a name without a phone likewise."""
    for known in ({"patient_id": "P000001"}, {"patient_id": "P000001", "name": "张三"}):
        data = ComplaintSubmitted.model_validate(complaint("C-5", patient=known)["data"])
        [out] = ledger().apply(intake("complaint.submitted", data, "c-5")).published
        assert (out.patient_id, out.phone_status) == ("P000001", None)
        assert out.data.patient == Complainant.model_validate(known)  # type: ignore[attr-defined]
        _, topic, key, payload = outbox_row(out)
        assert (key, decode(payload, expected_topic=topic).data.patient.phone) == ("P000001", None)


def test_an_a03_completes_a_partly_sent_patient_and_department_from_the_admission() -> None:
    book = ledger()
    book.apply(admission(19))
    notice = DischargeNotice(
        admission_id="A000019",
        fields={
            "discharged_at": NOW.isoformat(), "disposition": "home",
            "patient": {"patient_id": "P000019", "name": "王五五"},
            "department": {"code": "CARD"},
        },
    )  # fmt: skip
    [out] = book.apply(intake("discharge.notice", notice, "dis-19")).published
    assert isinstance(out.data, PatientDischarged)
    assert out.data.patient.name == "王五五"  # what the message sent wins
    assert out.data.patient.phone == "+8613900139000"  # the rest from the admission
    assert out.data.department.name == "心内科"


def test_the_visits_an_intake_may_touch_are_loaded_first() -> None:
    assert visit_keys(created(20)) == [(Kind.REGISTRATION, "R000020")]
    assert visit_keys(cancelled(20)) == [(Kind.REGISTRATION, "R000020")]
    assert visit_keys(admission(20)) == [(Kind.ADMISSION, "A000020")]
    notice = DischargeNotice(admission_id="A000020", fields={})
    assert visit_keys(intake("discharge.notice", notice, "n")) == [(Kind.ADMISSION, "A000020")]
    a11 = VisitCancelled(visit_id="V20", inpatient=False, cancelled_at=NOW)
    assert visit_keys(intake("visit.cancelled", a11, "v")) == [
        (Kind.ADMISSION, "V20"), (Kind.REGISTRATION, "V20"),
    ]  # fmt: skip
    lone = ComplaintSubmitted.model_validate(complaint("C-3")["data"])
    assert visit_keys(intake("complaint.submitted", lone, "c")) == []


def test_every_fact_held_for_an_admission_is_tried_when_it_arrives() -> None:
    """An A13 and then an A11 arrive before their A01: when it comes, the A13 (no discharge
    yet) waits on, and the A11 after it still cancels the admission."""
    book = ledger()
    undo_discharge = DischargeCancelled(admission_id="A000021")
    assert book.apply(intake("discharge.cancelled", undo_discharge, "a13-21")).held
    cancel = VisitCancelled(visit_id="A000021", inpatient=True, cancelled_at=NOW)
    assert book.apply(intake("visit.cancelled", cancel, "a11-21")).held
    book.apply(admission(21))
    assert book.visits[(Kind.ADMISSION, "A000021")].status == Status.ADMISSION_CANCELLED
    assert [h.event_id for h in book.pending[(Kind.ADMISSION, "A000021")]] == ["a13-21"]


def test_an_a03_lacking_fields_names_the_first_it_lacks_in_the_events_order() -> None:
    book = ledger()
    book.apply(admission(23))
    notice = DischargeNotice(admission_id="A000023", fields={})
    result = book.apply(intake("discharge.notice", notice, "dis-23"))
    assert result.rejection is not None
    assert (result.rejection.field, result.rejection.kind) == ("discharged_at", "missing")


@pytest.mark.parametrize("admitted_at", ["yesterday", "2026-11-20T08:00:00"])
def test_an_a03_with_an_unreadable_or_zoneless_time_is_invalid_not_missing(
    admitted_at: str,
) -> None:
    notice = DischargeNotice(
        admission_id="A000024",
        fields={
            "patient": {"patient_id": "P000024", "name": "王五", "phone": "13900139000"},
            "department": {"code": "CARD", "name": "心内科"}, "admitted_at": admitted_at,
            "discharged_at": NOW.isoformat(), "disposition": "home", "admission_id": "A000024",
        },
    )  # fmt: skip
    result = ledger().apply(intake("discharge.notice", notice, "dis-24"))
    assert result.rejection is not None
    assert (result.rejection.field, result.rejection.kind) == ("admitted_at", "invalid")


def test_details_reach_a_visit_loaded_from_the_database() -> None:
    """A loaded visit's patient id is the database's string, not the one parsed from the
    update: they are matched by value."""
    book = ledger()
    book.apply(created(25))
    visit = book.visits[(Kind.REGISTRATION, "R000025")]
    visit.patient_id = "".join(["P", "000025"])  # as asyncpg returns it: an equal, new string
    new = {"patient_id": "P000025", "name": "张三丰", "phone": "13800138000"}
    update = PatientDetailsUpdated.model_validate({"patient": new, "updated_at": NOW})
    book.apply(intake("patient.details_updated", update, "a08-25"))
    assert visit.record_json()["patient"]["name"] == "张三丰"


def test_held_facts_loaded_from_the_database_are_marked_done_once_applied() -> None:
    """A cancellation held by an earlier batch (loaded, not held in this one) is applied when
    its visit arrives, and its row is marked for removal so it is not applied again."""
    book = ledger()
    book.pending[(Kind.REGISTRATION, "R000026")] = [cancelled(26)]
    result = book.apply(created(26))
    assert [o.type for o in result.published] == ["registration.created", "registration.cancelled"]
    assert (Kind.REGISTRATION, "R000026") in book.pending_changed
