"""A step sent with a version of the case that is no longer its version: refused before
anything changes, answered as a problem naming the case's status and version now."""

from __future__ import annotations

import json

import pytest

from complaints import api, cases
from complaints.views import TransitionIn
from hospital_shared.problems import VERSION_MISMATCH, from_http_exception

CASE = {"case_number": "TS-20261205-0001", "status": "resolution_proposed", "version": 9}


def test_a_step_sent_with_the_version_read_goes_on_and_without_one_as_before() -> None:
    cases.check_version(CASE, 9)
    cases.check_version(CASE, None)
    assert TransitionIn(to="closed").expected_version is None


def test_a_step_sent_with_an_older_version_is_a_409_naming_the_status_and_version_now() -> None:
    with pytest.raises(cases.StaleCase) as refused:
        cases.check_version(CASE, 7)
    answer = from_http_exception(api._refusal(refused.value), "/v1/cases/TS-20261205-0001/x")
    assert answer.status_code == 409
    problem = json.loads(bytes(answer.body))
    assert problem["type"] == VERSION_MISMATCH == "urn:hospital:problem:version-mismatch"
    assert (problem["current_status"], problem["current_version"]) == ("resolution_proposed", 9)
    assert "changed since version 7" in problem["detail"]
