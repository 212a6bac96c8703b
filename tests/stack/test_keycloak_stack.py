"""Keycloak's start in the background (devstack.keycloak), on the lifecycle tests' stack of
its own (state folder and ports apart from the session's): two `up`s of one stack start one
Keycloak, and a `down` while it is still starting leaves nothing running."""

from __future__ import annotations

from concurrent.futures import wait

import httpx
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


def test_keycloak_sends_sign_ins_back_to_this_stacks_console(
    stack_config: StackConfig, keycloak: dict[str, str]
) -> None:
    """At any port offset (the realm file lists the consoles of offsets up to 19000 only)."""
    callback = f"http://127.0.0.1:{stack_config.console_port}/auth/callback"
    resp = httpx.get(
        f"{keycloak['OIDC_ISSUER_URL']}/protocol/openid-connect/auth",
        params={"client_id": "console", "redirect_uri": callback, "response_type": "code",
                "scope": "openid", "state": "s", "nonce": "n", "code_challenge": "c" * 43,
                "code_challenge_method": "S256"},
        timeout=30,
    )  # fmt: skip
    assert resp.status_code == 200 and 'id="kc-login"' in resp.text, resp.status_code
