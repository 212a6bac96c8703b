"""Access records: what one request's reads become (one row per patient), whether a read was
in the reader's scope, and the reason header read safely."""

from __future__ import annotations

from starlette.requests import Request

from hospital_shared.access_records import Read, Reader, group_reads, reason_of

AGENT = Reader("S-AGENT-01", "agent", "CS")


def request_with(*headers: tuple[bytes, bytes]) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": list(headers)})


def test_one_row_per_patient_with_its_records_in_order_and_without_repeats() -> None:
    rows = group_reads(
        [
            Read("P1", "task", "T1", department="CS"),
            Read("P2", "task", "T2", department="CS"),
            Read("P1", "task", "T3", department="CS"),
            Read("P1", "task", "T1", department="CS"),
        ],
        AGENT,
    )
    assert [(r.patient_id, r.record_ids) for r in rows] == [("P1", ["T1", "T3"]), ("P2", ["T2"])]


def test_a_record_assigned_to_the_reader_or_in_their_department_is_in_scope() -> None:
    assert Read("P1", "task", "T1", assignee_id="S-AGENT-01", department="CARD").in_scope_of(AGENT)
    assert Read("P1", "task", "T1", department="CS").in_scope_of(AGENT)
    assert not Read("P1", "task", "T1", assignee_id="S-OTHER", department="CARD").in_scope_of(AGENT)
    assert not Read("P1", "task", "T1").in_scope_of(Reader(None, "admin", None))


def test_a_patient_row_is_out_of_scope_when_any_of_its_records_is() -> None:
    [row] = group_reads(
        [Read("P1", "task", "T1", department="CS"), Read("P1", "task", "T2", department="ICU")],
        AGENT,
    )
    assert not row.in_scope


def test_the_reason_header_is_percent_decoded_stripped_of_control_characters_and_bounded() -> None:
    handling = "%E5%A4%84%E7%90%86%E6%8A%95%E8%AF%89 TS-20261205-0001%0A%00"
    assert (
        reason_of(request_with((b"x-access-reason", handling.encode())))
        == "处理投诉 TS-20261205-0001"
    )
    long = reason_of(request_with((b"x-access-reason", b"x" * 500)))
    assert long is not None and len(long) == 200
    assert reason_of(request_with()) is None
    assert reason_of(request_with((b"x-access-reason", b"%0A"))) is None
