"""The relay's own murmur2 picks the partition Kafka's clients pick: the same hash as the Java
client (its own test vectors) and as aiokafka's, which `producer.send` uses."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from hospital_shared.publishing import murmur2

# org.apache.kafka.common.utils.UtilsTest#testMurmur2 (Java ints, signed)
JAVA_CASES = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "java"), JAVA_CASES.items())
def test_the_java_clients_values(data: bytes, java: int) -> None:
    assert murmur2(data) == java & 0xFFFFFFFF


def test_aiokafkas_values_for_every_length_and_many_keys() -> None:
    rng = random.Random(2026)
    keys = [bytes(rng.getrandbits(8) for _ in range(n)) for n in range(81) for _ in range(50)]
    keys += [f"BH{h:02d}-P{p:07d}".encode() for h in range(1, 5) for p in range(0, 200_000, 97)]
    keys += ["患者-张三-13800138000".encode()]
    assert [murmur2(k) for k in keys] == [aiokafka_murmur2(k) for k in keys]
