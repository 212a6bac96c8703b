"""The five services, started once for the whole fuzz package with their default settings
(each module started its own: 8-10 s of the suite each)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz import SERVICES
from tests.integration.services import RunningService, running_all


@pytest.fixture(scope="package")
def services(stack_config, stack_env) -> Iterator[dict[str, RunningService]]:  # type: ignore[no-untyped-def]
    with running_all(stack_config, SERVICES) as running:
        yield running
