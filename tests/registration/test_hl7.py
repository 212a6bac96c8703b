"""HL7 messages into intakes, and every ACK code, through the real handler with a fake store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import hl7
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registration.handlers import Hl7Handler, rules_from
from registration.ingest import Hl7Control, Ingested, IntakeRejected
from registration.intake import Intake, Rejection
from registration.settings import Settings
from tests.registration.messages import adt, siu

TZ = ZoneInfo("Asia/Shanghai")


class FakeStore:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.taken: list[Intake] = []
        self.seen: set[tuple[str, str]] = set()
        self.fail = fail

    async def __call__(self, intakes: Sequence[Intake], control: Hl7Control) -> Ingested:
        if self.fail is not None:
            raise self.fail
        key = (control.sender, control.control_id)
        if key in self.seen:
            return Ingested(duplicate_message=True)
        self.seen.add(key)
        self.taken.extend(intakes)
        return Ingested(event_ids=[i.event_id for i in intakes], published=len(intakes))


def handler(store: FakeStore) -> Hl7Handler:
    return Hl7Handler(store, rules=rules_from(Settings()), us=("OPS", "REG"))


def parse_ack(raw: bytes, charset: str = "utf-8") -> hl7.Message:
    return hl7.parse(raw.decode(charset))


async def test_a04_is_acknowledged_aa_echoing_msh10() -> None:
    store = FakeStore()
    reply = parse_ack(await handler(store)(adt("A04", "CTL-1", patient_id="P1", visit_id="V1")))
    assert str(reply["MSA.F1"]) == "AA"
    assert str(reply["MSA.F2"]) == "CTL-1"
    [taken] = store.taken
    assert taken.type == "registration.created"
    assert taken.data.registration_id == "V1"  # type: ignore[attr-defined]


@pytest.mark.parametrize("control_id", ["G\\F\\1", "A\\S\\B", "X~Y", "T&1"])
async def test_an_escaped_control_id_is_echoed_as_it_was_sent(control_id: str) -> None:
    """MSA-2 (and the ACK's own MSH-10) as the sender wrote MSH-10: blanked separators made
    an ACK the sender could not match to its message, so it sent it again and again."""
    raw = adt("A04", "CTL-E", patient_id="P1", visit_id="V1").replace(
        b"|CTL-E|", f"|{control_id}|".encode()
    )
    ack = (await handler(FakeStore())(raw)).decode()
    msa = next(line for line in ack.split("\r") if line.startswith("MSA|"))
    assert msa.split("|")[1:3] == ["AA", control_id]
    assert f"|ACK{control_id}|" in ack.split("\r")[0]


async def test_gb18030_names_are_decoded_per_msh18_and_the_ack_uses_the_same_charset() -> None:
    store = FakeStore()
    raw = adt("A04", "CTL-2", patient_id="P2", visit_id="V2", charset="gb18030",
              family="欧阳", given="娜娜")  # fmt: skip
    reply = await handler(store)(raw)
    assert str(parse_ack(reply, "gb18030")["MSA.F1"]) == "AA"
    assert "GB 18030" in reply.decode("gb18030")
    assert store.taken[0].data.patient.name == "欧阳娜娜"  # type: ignore[attr-defined]


async def test_siu_booking_has_appointment_time_and_visit_type() -> None:
    store = FakeStore()
    await handler(store)(siu("S12", "CTL-3", patient_id="P3", appointment_id="AP3"))
    data = store.taken[0].data
    assert data.appointment_at == datetime(2026, 11, 25, 14, 0, tzinfo=TZ)  # type: ignore[attr-defined]
    assert data.visit_type == "return"  # type: ignore[attr-defined]
    assert data.department.name == "心内科"  # type: ignore[attr-defined]


async def test_missing_patient_id_is_ae_with_err_naming_pid3() -> None:
    reply = parse_ack(await handler(FakeStore())(adt("A04", "CTL-4", patient_id="", visit_id="V4")))
    assert str(reply["MSA.F1"]) == "AE"
    assert str(reply["MSA.F2"]) == "CTL-4"
    assert str(reply.segment("ERR")(2)) == "PID^1^3"
    assert str(reply["ERR.F3.R1.C1"]) == "101"


async def test_unsupported_message_type_is_ar() -> None:
    raw = adt("A04", "CTL-5", patient_id="P5", visit_id="V5").replace(b"ADT^A04", b"ORU^R01")
    reply = parse_ack(await handler(FakeStore())(raw))
    assert str(reply["MSA.F1"]) == "AR"
    assert str(reply["ERR.F3.R1.C1"]) == "200"


async def test_bytes_not_valid_in_the_declared_charset_are_ar() -> None:
    raw = adt("A04", "CTL-6", patient_id="P6", visit_id="V6", charset="gb18030")
    raw = raw.replace(b"GB 18030-2000", b"UNICODE UTF-8")
    reply = parse_ack(await handler(FakeStore())(raw))
    assert str(reply["MSA.F1"]) == "AR"
    assert str(reply.segment("ERR")(2)) == "MSH^1^18"


async def test_storage_failure_is_ar_so_the_sender_resends() -> None:
    reply = parse_ack(
        await handler(FakeStore(fail=OSError("db away")))(
            adt("A04", "CTL-7", patient_id="P7", visit_id="V7")
        )
    )
    assert str(reply["MSA.F1"]) == "AR"
    assert str(reply["ERR.F3.R1.C1"]) == "207"


async def test_state_conflict_is_ae() -> None:
    store = FakeStore(fail=IntakeRejected([(0, Rejection("admission_id", "was cancelled"))]))
    reply = parse_ack(await handler(store)(adt("A03", "CTL-8", patient_id="P8", visit_id="A8")))
    assert str(reply["MSA.F1"]) == "AE"
    assert str(reply.segment("ERR")(2)) == "PV1^1^19"


@pytest.mark.parametrize(("patient_class", "inpatient"), [("I", True), ("O", False), ("", None)])
async def test_an_a11_says_the_patient_class_it_was_given(
    patient_class: str, inpatient: object
) -> None:
    """An empty PV1-2 is not "inpatient": the ledger refuses such an A11 while its visit is
    unknown (tests/registration/test_domain.py), and its AE names PV1-2."""
    store = FakeStore()
    a11 = adt("A11", "CTL-11", patient_id="P11", visit_id="V11", patient_class=patient_class)
    assert str(parse_ack(await handler(store)(a11))["MSA.F1"]) == "AA"
    assert [i.data.inpatient for i in store.taken] == [inpatient]  # type: ignore[attr-defined]
    refusing = FakeStore(fail=IntakeRejected([(0, Rejection("inpatient", "not known yet"))]))
    reply = parse_ack(await handler(refusing)(a11))
    assert str(reply["MSA.F1"]) == "AE"
    assert str(reply.segment("ERR")(2)) == "PV1^1^2"


async def test_duplicate_control_id_is_acknowledged_aa_and_taken_once() -> None:
    store = FakeStore()
    h = handler(store)
    raw = adt("A04", "CTL-9", patient_id="P9", visit_id="V9")
    for _ in range(3):
        assert str(parse_ack(await h(raw))["MSA.F1"]) == "AA"
    assert len(store.taken) == 1


async def test_not_hl7_at_all_is_ar_without_crashing() -> None:
    reply = await handler(FakeStore())(b"GET / HTTP/1.1\r\n\r\n")
    assert b"MSA|AR" in reply


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600) | st.text(max_size=400).map(lambda t: ("MSH|^~\\&|" + t).encode()))
async def test_any_bytes_get_an_ack_and_never_an_exception(payload: bytes) -> None:
    reply = await handler(FakeStore())(payload)
    assert b"MSA|" in reply


segment_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x0b\x1c"),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    trigger=st.sampled_from(["A01", "A03", "A04", "A08", "A11", "A13"]),
    field=st.integers(min_value=1, max_value=45),
    value=segment_text,
    charset=st.sampled_from(["utf-8", "gb18030"]),
)
async def test_any_field_value_gets_aa_ae_or_ar(
    trigger: str, field: int, value: str, charset: str
) -> None:
    raw = adt(trigger, "FUZZ", patient_id="P1", visit_id="V1", pv1_extra={field: value},
              charset="utf-8")  # fmt: skip
    text = raw.decode("utf-8")
    if charset == "gb18030":
        text = text.replace("UNICODE UTF-8", "GB 18030-2000")
    reply = await handler(FakeStore())(text.encode(charset, errors="replace"))
    assert any(f"MSA|{code}|".encode(charset) in reply for code in ("AA", "AE", "AR"))


class FakeGroupStore(FakeStore):
    """Stores pipelined messages together: per message its outcome, in order."""

    def __init__(self, reject: str = "", fail: BaseException | None = None) -> None:
        super().__init__(fail)
        self.reject = reject
        self.groups: list[int] = []

    async def group(
        self, messages: Sequence[tuple[Sequence[Intake], Hl7Control]]
    ) -> list[Ingested | IntakeRejected]:
        if self.fail is not None:
            raise self.fail
        self.groups.append(len(messages))
        results: list[Ingested | IntakeRejected] = []
        for intakes, control in messages:
            if control.control_id == self.reject:
                results.append(IntakeRejected([(0, Rejection("registration_id", "conflict"))]))
            else:
                results.append(await self(intakes, control))
        return results


def group_handler(store: FakeGroupStore) -> Hl7Handler:
    return Hl7Handler(
        store, rules=rules_from(Settings()), us=("OPS", "REG"), ingest_group=store.group,
    )  # fmt: skip


async def test_pipelined_messages_share_one_store_call_and_are_answered_in_order() -> None:
    store = FakeGroupStore(reject="G-3")
    messages = [adt("A04", f"G-{n}", patient_id=f"P{n}", visit_id=f"V{n}") for n in range(5)]
    messages.insert(2, b"not hl7 at all")
    replies = [parse_ack(r) for r in await group_handler(store).many(messages)]
    assert [str(r["MSA.F1"]) for r in replies] == ["AA", "AA", "AR", "AA", "AE", "AA"]
    assert [str(r["MSA.F2"]) for r in replies] == ["G-0", "G-1", "", "G-2", "G-3", "G-4"]
    assert store.groups == [5]  # the unreadable message never reached the store


async def test_a_group_that_cannot_be_stored_is_all_ar() -> None:
    store = FakeGroupStore(fail=OSError("db away"))
    messages = [adt("A04", f"F-{n}", patient_id=f"P{n}", visit_id=f"V{n}") for n in range(3)]
    replies = [parse_ack(r) for r in await group_handler(store).many(messages)]
    assert [str(r["MSA.F1"]) for r in replies] == ["AR", "AR", "AR"]


async def test_a_visit_without_a_phone_is_ae_naming_pid_13() -> None:
    # The shared contract requires Patient.phone, so such a visit cannot be taken; the ACK
    # says exactly which field to fix.
    reply = parse_ack(
        await handler(FakeStore())(adt("A04", "NP-1", patient_id="P1", visit_id="V1", phone=""))
    )
    assert str(reply["MSA.F1"]) == "AE"
    err = reply.segment("ERR")
    assert (str(err(2)), str(err(3)(1)(1))) == ("PID^1^13", "101")
    assert str(err(8)) == "PID-13 (patient.phone): Field required"


@pytest.mark.parametrize("when", ["00010101000000+0800", "20261125120000+9999"])
async def test_a_time_past_python_years_or_offsets_is_ae_naming_the_field(when: str) -> None:
    # Year 1 at +08:00 is year 0 in UTC; an offset of 99 h is none: both were AR 207,
    # "could not read the message", naming no field.
    message = adt("A03", "CTL-T", patient_id="P9", visit_id="A9", pv1_extra={45: when})
    reply = parse_ack(await handler(FakeStore())(message))
    assert str(reply["MSA.F1"]) == "AE"
    assert str(reply.segment("ERR")(2)) == "PV1^1^45"
    assert str(reply["ERR.F3.R1.C1"]) == "102"


async def test_an_appointment_time_written_with_dashes_is_ae_naming_ais_4() -> None:
    # It was read as 1 January of its year and answered AA.
    store = FakeStore()
    message = siu("S12", "S-DASH", patient_id="P1", appointment_id="A1").replace(
        b"20261125140000+0800", b"2026-11-25 14:00:00"
    )
    reply = parse_ack(await handler(store)(message))
    assert str(reply["MSA.F1"]) == "AE"
    assert str(reply.segment("ERR")(2)) == "AIS^1^4"
    assert str(reply["ERR.F3.R1.C1"]) == "102"
    assert store.taken == []


async def test_a_payload_with_mllp_block_characters_is_ar_and_nothing_stored() -> None:
    # Two messages run together (an aborted frame and the next one) are not one message.
    store = FakeStore()
    a = adt("A04", "MSG-A", patient_id="P1", visit_id="V1")
    b = adt("A11", "MSG-B", patient_id="P2", visit_id="V2")
    reply = parse_ack(await handler(store)(a[: a.index(b"PV1|") + 20] + b"\x0b" + b))
    assert str(reply["MSA.F1"]) == "AR"
    assert store.taken == []


@pytest.mark.parametrize(
    ("family", "charset", "name"),
    [
        ("Smith\\E\\F\\E\\Jr", "utf-8", "J Smith\\F\\Jr"),  # a literal \F\, read once
        ("C\\E\\D", "utf-8", "J C\\D"),
        ("O\\S\\Brien\\F\\", "utf-8", "J O^Brien|"),
        ("\\H\\张\\N\\", "utf-8", "张三"),  # highlighting is dropped
        ("\\XE5BCA0\\", "utf-8", "张三"),  # hex bytes in the message's charset
        ("\\XD5C5\\", "gb18030", "张三"),
    ],
)
async def test_escapes_in_a_name_are_read_once_with_the_messages_charset(
    family: str, charset: str, name: str
) -> None:
    store = FakeStore()
    given = "三" if "张" in name else "J"
    raw = adt("A04", "ESC-1", patient_id="P1", visit_id="V1", family=family, given=given,
              charset=charset)  # fmt: skip
    reply = parse_ack(await handler(store)(raw), charset)
    assert str(reply["MSA.F1"]) == "AA"
    [taken] = store.taken
    assert taken.data.patient.name == name  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "family",
    ["王\\Zxy\\", "李\\\\", "钱\\M2442\\", "欧阳\\.br\\", "赵\\F", "\\XD5C5\\", "\\XE5B\\"],
)
async def test_an_escape_that_cannot_be_read_is_ae_naming_the_field(family: str) -> None:
    # They were dropped (王\Zxy\ was taken as 王), or decoded into other characters.
    store = FakeStore()
    reply = parse_ack(
        await handler(store)(adt("A04", "ESC-2", patient_id="P1", visit_id="V1", family=family))
    )
    assert str(reply["MSA.F1"]) == "AE"
    assert (str(reply.segment("ERR")(2)), str(reply["ERR.F3.R1.C1"])) == ("PID^1^5", "102")
    assert store.taken == []


async def test_gb2312_declared_as_iso_ir58_is_read_as_gb() -> None:
    # HL7 table 0211 names GB 2312 "ISO IR58"; it was refused AR as an unknown charset.
    store = FakeStore()
    raw = adt("A04", "IR58", patient_id="P1", visit_id="V1", charset="gb18030")
    raw = raw.replace(b"GB 18030-2000", b"ISO IR58")
    reply = parse_ack(await handler(store)(raw), "gb18030")
    assert str(reply["MSA.F1"]) == "AA"
    [taken] = store.taken
    assert taken.data.patient.name == "张三"  # type: ignore[attr-defined]
