"""What `devstack up` tells the operator to stop the stack with (tools/devstack/devstack/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devstack import StackConfig
from devstack.cli import down_command


def test_a_test_stack_on_its_own_offset_is_stopped_with_that_offset(monkeypatch: Any) -> None:
    """`devstack up --test` on offset 17000 printed `devstack down --test`, which looks for
    the stack on the default offset and stops nothing."""
    monkeypatch.setenv("DEVSTACK_TEST_PORT_OFFSET", "17000")
    cfg = StackConfig.for_tests()
    assert down_command(cfg) == "DEVSTACK_TEST_PORT_OFFSET=17000 devstack down --test"


def test_the_default_stacks_are_stopped_without_an_offset(monkeypatch: Any) -> None:
    monkeypatch.delenv("DEVSTACK_TEST_PORT_OFFSET", raising=False)
    assert down_command(StackConfig.for_tests()) == "devstack down --test"
    assert down_command(StackConfig(state_dir=Path("/srv/hospital/.stack"))) == "devstack down"
