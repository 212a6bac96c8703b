"""Schemathesis against every service's OpenAPI document, on the real processes, PostgreSQL and
Kafka: generated requests (schema-valid and not) must never get a 5xx, and every answer must fit
the schema the service declares for it. Where a response is an untyped `object`, the second
check is weak; the 5xx check is not.

Bounded in `make test` (FUZZ_EXAMPLES per operation, default 5, coverage and fuzzing phases,
a fixed seed: the same requests every run); `make fuzz` runs longer, with stateful sequences
and a random seed. Each service is exercised with bearer tokens that pass its auth (the
development tokens), so the routes' own code is reached, not only the 401s.

It writes (staff, rules, templates, opt-outs, cases ...), so it runs after every other suite
(last in testpaths): nothing after it depends on the state it leaves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz import SERVICES
from tests.integration.services import RunningService

# Roles whose token reaches most of a service's routes (hospital_shared.auth.DEV_TOKENS).
ROLES = {
    "registration": ["integration"],
    "followup": ["admin"],
    "complaints": ["supervisor", "agent"],
    "notifications": ["admin"],
    "metrics": ["admin"],
}
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def schemathesis_command(url: str, token: str) -> list[str]:
    full = os.environ.get("FUZZ_FULL") == "1"
    command = [
        str(SCHEMATHESIS), "run", f"{url}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS,
        "--max-examples", os.environ.get("FUZZ_EXAMPLES", "100" if full else "5"),
        "--phases", "examples,coverage,fuzzing,stateful" if full else "coverage,fuzzing",
        "--workers", "1",
        "--request-timeout", "30",
        "--exclude-path-regex", "^/(metrics|healthz|readyz|asyncapi.json)$",
    ]  # fmt: skip
    if not full:
        command += ["--seed", "20261205"]
    return command


@pytest.mark.parametrize(
    ("service", "role"), [(s, r) for s in SERVICES for r in ROLES[s]], ids=lambda x: str(x)
)
def test_no_server_error_and_every_answer_fits_its_schema(
    services: dict[str, RunningService], stack_env: dict[str, str], service: str, role: str
) -> None:
    token = stack_env[f"TOKEN_{role.upper()}"]
    run = subprocess.run(
        schemathesis_command(services[service].url, token),
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
    )
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
