"""The devstack broker's JVM compiles with C1 only unless told otherwise: on a fresh stack the
JIT compilers (C1 then C2) took half of the broker's CPU while a bench's first load went
through it (docs/bench.md, session 15). The options are the stack's configuration
(`StackConfig.kafka_jvm_options`, from DEVSTACK_KAFKA_JVM_OPTIONS), as its other settings."""

from __future__ import annotations

import pytest

from devstack import StackConfig


def test_the_broker_compiles_with_c1_only_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVSTACK_KAFKA_JVM_OPTIONS", raising=False)
    assert StackConfig.for_tests().kafka_jvm_options == ("-XX:TieredStopAtLevel=1",)


def test_the_options_can_be_replaced_or_emptied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSTACK_KAFKA_JVM_OPTIONS", "-XX:+UseSerialGC  -XX:TieredStopAtLevel=1")
    assert StackConfig.for_tests().kafka_jvm_options == (
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
    )
    monkeypatch.setenv("DEVSTACK_KAFKA_JVM_OPTIONS", "")
    assert StackConfig.for_tests().kafka_jvm_options == ()
