"""Keycloak's start in the background (devstack.keycloak), on the lifecycle tests' stack of
its own (state folder and ports apart from the session's): two `up`s of one stack start one
Keycloak, and a `down` while it is still starting leaves nothing running."""

from __future__ import annotations

from concurrent.futures import wait

import pytest

from devstack import StackConfig, down, keycloak, procs
from devstack.stack import stack_ports
from tests.stack.test_stack_lifecycle import own_stack

pytestmark = pytest.mark.stack
__all__ = ["own_stack"]  # the lifecycle tests' stack of its own (a fixture)


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
