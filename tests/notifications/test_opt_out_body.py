"""POST /v1/opt-outs' body: a blank patient id is no patient (a phone's opt-out). It was stored
as the patient "" and the opt-out's event, which names a patient or none, could not be
published: a 500 (tests/fuzz found it)."""

from __future__ import annotations

import pytest

from notifications.opt_outs_api import OptOutIn


@pytest.mark.parametrize("blank", ["", " ", "\t"])
def test_a_blank_patient_id_is_none(blank: str) -> None:
    assert OptOutIn(patient_id=blank, phone="13800138000").patient_id is None


def test_a_patient_id_is_kept_without_its_spaces() -> None:
    assert OptOutIn(patient_id=" P1 ").patient_id == "P1"
