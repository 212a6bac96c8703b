"""Who may post delivery reports and patients' replies: addresses or CIDR ranges. The compose
file's Kannel calls from its container's address; as exact strings, a range matched nothing
and every report was refused with 403."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from notifications.domain import caller_allowed
from notifications.settings import Settings


def test_a_caller_inside_a_range_is_allowed_and_one_outside_is_not() -> None:
    allowed = ("127.0.0.1", "::1", "172.28.0.8/29")
    assert caller_allowed("172.28.0.10", allowed)
    assert caller_allowed("127.0.0.1", allowed) and caller_allowed("::1", allowed)
    assert not caller_allowed("172.28.0.16", allowed)
    assert not caller_allowed("172.28.0.1", allowed)
    assert not caller_allowed("10.0.0.1", allowed)


def test_an_ipv4_caller_on_an_ipv6_socket_counts_as_its_ipv4_address() -> None:
    assert caller_allowed("::ffff:172.28.0.10", ("172.28.0.8/29",))
    assert caller_allowed("fd00::5", ("fd00::/64",))


def test_what_is_not_an_address_is_never_allowed() -> None:
    assert not caller_allowed("", ("0.0.0.0/0",))
    assert not caller_allowed("testclient", ("127.0.0.1",))


def test_a_setting_that_is_not_an_address_or_range_stops_the_service_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTIFICATIONS_CALLBACK_ALLOWED_IPS", '["172.28.0.0/24", "kannel"]')
    with pytest.raises(ValidationError, match="'kannel' is not an IP address or CIDR range"):
        Settings()
    monkeypatch.setenv("NOTIFICATIONS_CALLBACK_ALLOWED_IPS", '["172.28.0.8/29"]')
    assert Settings().callback_allowed_ips == ("172.28.0.8/29",)


def test_a_range_written_with_host_bits_set_is_read_as_its_network() -> None:
    """`10.1.2.3/8` is taken as 10.0.0.0/8, as an administrator means it, not refused."""
    assert caller_allowed("10.9.9.9", ("10.1.2.3/8",))
