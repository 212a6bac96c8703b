"""devstack refuses a stack whose ports lie in the kernel's range for outgoing connections
(a chaos run at port offset 46000 lost Kafka's port 55092 to a client on restart)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import StackConfig, StackError, procs, up
from devstack.stack import stack_ports


def test_the_ephemeral_range_is_read_from_the_kernel_with_linuxs_default_otherwise(
    tmp_path: Path,
) -> None:
    (tmp_path / "range").write_text("40000\t50000\n")
    assert procs.ephemeral_range(tmp_path / "range") == range(40000, 50001)
    assert procs.ephemeral_range(tmp_path / "missing") == range(32768, 61000)


def test_a_port_inside_the_range_is_refused_naming_it_and_the_way_out() -> None:
    with pytest.raises(StackError, match=r"ports \[55092\].*below 32768.*PORT_OFFSET"):
        procs.refuse_ephemeral_ports([19092, 55092], ephemeral=range(32768, 61000))
    procs.refuse_ephemeral_ports([19092, 32767, 61000], ephemeral=range(32768, 61000))


def test_up_refuses_such_a_stack_before_it_starts_anything(tmp_path: Path) -> None:
    cfg = StackConfig.shifted(tmp_path / "stack", 46000)
    assert any(port in procs.ephemeral_range() for port in stack_ports(cfg))
    with pytest.raises(StackError, match="outgoing connections"):
        up(cfg, with_services=False)
    assert not (tmp_path / "stack").exists()


def test_the_test_and_bench_stacks_default_offsets_stay_below_the_range() -> None:
    for offset in (10000, 10300, 16000):  # tests, the lifecycle tests' own stack, the bench
        cfg = StackConfig.shifted(Path("/nonexistent"), offset)
        procs.refuse_ephemeral_ports(stack_ports(cfg), ephemeral=range(32768, 61000))
