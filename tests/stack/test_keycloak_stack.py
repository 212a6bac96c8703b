"""Keycloak's start in the background (devstack.keycloak), on a stack of its own (state
folder and ports apart from the session's): two `up`s of one stack start one Keycloak, and a
`down` while it is still starting leaves nothing running."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import wait
from pathlib import Path

import pytest

from devstack import StackConfig, down, keycloak, procs, wipe
from devstack.stack import stack_ports

REPO = Path(__file__).resolve().parents[2]
_OFFSET = int(os.environ.get("DEVSTACK_TEST_PORT_OFFSET", "10000")) + 400

pytestmark = pytest.mark.stack


@pytest.fixture
def own_stack() -> Iterator[StackConfig]:
    cfg = StackConfig.shifted(REPO / f".stack-test-{_OFFSET - 400}-keycloak", _OFFSET)
    down(cfg)
    wipe(cfg)
    try:
        yield cfg
    finally:
        down(cfg)
        wipe(cfg)


def test_two_ups_at_once_start_one_keycloak(own_stack: StackConfig) -> None:
    first = keycloak.start_in_background(own_stack)
    second = keycloak.start_in_background(own_stack)
    first.result(timeout=900)
    second.result(timeout=900)  # before each took its turn: "Address already in use"
    assert keycloak._realm_answers(own_stack.keycloak_url)


def test_down_while_keycloak_starts_leaves_nothing_running(own_stack: StackConfig) -> None:
    starting = keycloak.start_in_background(own_stack)
    down(own_stack)
    wait([starting], timeout=900)
    assert procs.leftovers(own_stack, stack_ports(own_stack)) == []
    assert not procs.port_open(own_stack.keycloak_port)
