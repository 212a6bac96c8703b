"""The chaos suite normally runs on the session's test stack. With CHAOS_OWN_STACK=<folder>
it runs on a stack of its own (state in that folder, ports + 12000), left running, so the
suite can be run while other suites use the test stack."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OWN = os.environ.get("CHAOS_OWN_STACK")

if OWN:

    @pytest.fixture(scope="session")
    def stack_config():  # type: ignore[no-untyped-def]
        from devstack import StackConfig

        base = StackConfig(state_dir=REPO / OWN)
        ports = {
            f.name: getattr(base, f.name) + 12000
            for f in dataclasses.fields(base)
            if f.name.endswith("_port")
        }
        return dataclasses.replace(base, **ports)

    @pytest.fixture(scope="session")
    def stack_env(stack_config) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
        import devstack

        yield devstack.up(stack_config, with_services=False)
