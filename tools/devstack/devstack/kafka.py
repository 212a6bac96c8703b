"""Apache Kafka in KRaft mode, run from the Maven Central jars (no tarball, no Docker): one
node, or `cfg.kafka_brokers` nodes that are each broker and controller (a three-voter quorum),
all formatted with one cluster id (`kafka/cluster-id`)."""

from __future__ import annotations

import asyncio
import base64
import fcntl
import hashlib
import logging
import re
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from devstack import procs
from devstack.config import (
    CACHE_DIR,
    DEVSTACK_DIR,
    KAFKA_SASL_PASSWORD,
    KAFKA_SASL_USERNAME,
    StackConfig,
)
from devstack.procs import StackError

POM = DEVSTACK_DIR / "kafka" / "pom.xml"
LOG4J2_CONFIG = DEVSTACK_DIR / "kafka" / "log4j2.properties"
NAME = "kafka"
_MARKER = ".complete"


def kafka_version() -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if not match:
        raise StackError(f"no <kafka.version> in {POM}")
    return match.group(1)


def lib_dir() -> Path:
    return CACHE_DIR / f"kafka-{kafka_version()}" / "lib"


def ensure_jars() -> Path:
    """Resolve the broker's jars into `.cache/kafka-<version>/lib` once (marker = pom hash)."""
    lib = lib_dir()
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    marker = lib / _MARKER
    if marker.exists() and marker.read_text().strip() == digest:
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    with (lib.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another `up` may be downloading the same jars
        if marker.exists() and marker.read_text().strip() == digest:
            return lib
        shutil.rmtree(lib, ignore_errors=True)
        started = time.monotonic()
        print(f"devstack: downloading Kafka {kafka_version()} jars with Maven ...", file=sys.stderr)
        procs.run(
            [
                "mvn", "-q", "-B", "-f", str(POM),
                "dependency:copy-dependencies", f"-DoutputDirectory={lib}",
            ],
            what="resolving the Kafka jars with Maven",
            timeout=900,
        )  # fmt: skip
        if not any(lib.glob("kafka_2.13-*.jar")):
            raise StackError(f"Maven finished but {lib} has no kafka_2.13 jar")
        marker.write_text(digest + "\n")
        took = time.monotonic() - started
        print(f"devstack: Kafka jars ready in {lib} ({took:.0f}s)", file=sys.stderr)
    return lib


def node_name(node: int) -> str:
    """The pid file and log name of node `node`: `kafka`, `kafka-2`, `kafka-3`."""
    return NAME if node == 1 else f"{NAME}-{node}"


def data_dir(cfg: StackConfig, node: int = 1) -> Path:
    return cfg.state_dir / "kafka" / ("data" if node == 1 else f"data-{node}")


def tls_dir(cfg: StackConfig) -> Path:
    return cfg.state_dir / "kafka" / "tls"


def ensure_certificates(cfg: StackConfig) -> Path:
    """A throwaway CA and a broker certificate for 127.0.0.1 (openssl, made once per state
    folder): `ca.pem` for clients, `broker.pem` (key + certificate) for the SASL_SSL
    listener. Development only: the key is not encrypted and the CA is trusted nowhere."""
    folder = tls_dir(cfg)
    if (folder / "broker.pem").exists() and (folder / "ca.pem").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (
        folder / n for n in ("ca.key", "ca.pem", "broker.key", "broker.csr", "broker.crt")
    )
    ext = folder / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    # -nodes writes an unencrypted PKCS#8 key, which Kafka's PEM key store reads as it is.
    new_key = ["-newkey", "rsa:2048", "-nodes"]
    steps = [
        ["openssl", "req", "-x509", *new_key, "-days", "3650", "-subj", "/CN=devstack Kafka CA",
         "-keyout", str(ca_key), "-out", str(ca)],
        ["openssl", "req", *new_key, "-subj", "/CN=127.0.0.1", "-keyout", str(key),
         "-out", str(csr)],
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "3650", "-extfile", str(ext), "-out", str(cert)],
    ]  # fmt: skip
    for argv in steps:
        procs.run(argv, what="making the devstack Kafka TLS certificates")
    (folder / "broker.pem").write_text(key.read_text() + cert.read_text() + ca.read_text())
    return folder


def write_config(cfg: StackConfig, node: int = 1) -> Path:
    name = "server.properties" if node == 1 else f"server-{node}.properties"
    path = cfg.state_dir / "kafka" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    plain_port, ctrl_port, secure_port = cfg.kafka_node_ports(node)
    ctrl = f"127.0.0.1:{ctrl_port}"
    plain = f"PLAINTEXT://127.0.0.1:{plain_port}"
    secure = f"SECURE://127.0.0.1:{secure_port}"
    voters = ",".join(f"{n}@127.0.0.1:{cfg.kafka_node_ports(n)[1]}" for n in cfg.kafka_nodes)
    factor, min_isr = cfg.kafka_replication
    jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required"
        f' user_{KAFKA_SASL_USERNAME}="{KAFKA_SASL_PASSWORD}";'
    )
    path.write_text(
        f"# generated by devstack: KRaft broker+controller, node {node} of {cfg.kafka_brokers}\n"
        "process.roles=broker,controller\n"
        f"node.id={node}\n"
        f"controller.quorum.voters={voters}\n"
        f"listeners={plain},{secure},CONTROLLER://{ctrl}\n"
        f"advertised.listeners={plain},{secure}\n"
        "controller.listener.names=CONTROLLER\n"
        "inter.broker.listener.name=PLAINTEXT\n"
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SECURE:SASL_SSL\n"
        # SECURE: TLS with the devstack CA's certificate, then a SASL PLAIN login
        "listener.name.secure.sasl.enabled.mechanisms=PLAIN\n"
        f"listener.name.secure.plain.sasl.jaas.config={jaas}\n"
        "listener.name.secure.ssl.keystore.type=PEM\n"
        f"listener.name.secure.ssl.keystore.location={tls_dir(cfg) / 'broker.pem'}\n"
        f"log.dirs={data_dir(cfg, node)}\n"
        # internal topics as the platform's: on three brokers, one may be down
        f"offsets.topic.replication.factor={factor}\n"
        f"transaction.state.log.replication.factor={factor}\n"
        f"transaction.state.log.min.isr={min_isr}\n"
        f"share.coordinator.state.topic.replication.factor={factor}\n"
        f"share.coordinator.state.topic.min.isr={min_isr}\n"
        f"default.replication.factor={factor}\n"
        f"min.insync.replicas={min_isr}\n"
        "group.initial.rebalance.delay.ms=0\n"
        "log.cleaner.dedupe.buffer.size=1048577\n"
        # Kafka preallocates each segment's offset and time index (10 MiB each by default) as
        # a sparse file and maps it; the first write into it faults, and the kernel reads
        # around the fault up to the disk's readahead (8 MiB on the machine this was measured
        # on), zero-filling that much page cache. With ~250 partitions that was ~880 MB, paid
        # by whichever run first writes to a partition (a bench's first complaints drain:
        # 0.2-0.6 extra Kafka CPU-seconds). 1 MiB indexes still hold ~350 MB of log a segment.
        "log.index.size.max.bytes=1048576\n"
    )
    return path


def _java(lib: Path, *args: str) -> list[str]:
    return ["java", f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}", "-cp", f"{lib}/*", *args]


def random_cluster_id() -> str:
    """What `kafka.tools.StorageTool random-uuid` prints (base64url of a random UUID), made
    here to save a JVM start; like Kafka's `Uuid.randomUuid`, never starting with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def cluster_id(cfg: StackConfig) -> str:
    """The id every node is formatted with (made once per state folder; a node-1 data folder
    formatted before this file existed keeps its id)."""
    path = cfg.state_dir / "kafka" / "cluster-id"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = data_dir(cfg) / "meta.properties"
        found = re.search(r"^cluster\.id=(\S+)", meta.read_text(), re.M) if meta.exists() else None
        path.write_text((found.group(1) if found else random_cluster_id()) + "\n")
    return path.read_text().strip()


def check_layout(cfg: StackConfig) -> None:
    """Refuse data made for another number of brokers (its topics have another replication,
    its quorum other voters), rather than start a cluster that cannot agree."""
    path = cfg.state_dir / "kafka" / "brokers"
    made_for = path.read_text().strip() if path.exists() else None
    if made_for is None and (data_dir(cfg) / "meta.properties").exists():
        made_for = "1"  # made before this file existed: always one broker
    if made_for not in (None, str(cfg.kafka_brokers)):
        raise StackError(
            f"the Kafka data in {cfg.state_dir / 'kafka'} is for {made_for} broker(s), not "
            f"{cfg.kafka_brokers} (DEVSTACK_KAFKA_BROKERS): `devstack down`, then delete that "
            "folder (or unset the setting)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{cfg.kafka_brokers}\n")


def format_storage(cfg: StackConfig, lib: Path, config: Path, node: int = 1) -> None:
    if (data_dir(cfg, node) / "meta.properties").exists():
        return
    procs.run(
        _java(lib, "kafka.tools.StorageTool", "format", "-t", cluster_id(cfg), "-c", str(config)),
        what=f"formatting Kafka storage (node {node})",
    )


def start(cfg: StackConfig) -> list[int]:
    """Start every node of this stack's Kafka that does not run yet; returns their pids."""
    lib = ensure_jars()
    ensure_certificates(cfg)
    check_layout(cfg)
    return [start_node(cfg, node, lib) for node in cfg.kafka_nodes]


def start_node(cfg: StackConfig, node: int, lib: Path | None = None) -> int:
    """Start node `node` (1-based) unless it runs; returns its pid."""
    pid = procs.running(cfg, node_name(node))
    if pid is not None:
        return pid
    plain, ctrl, secure = cfg.kafka_node_ports(node)
    procs.ensure_port_free(plain, "Kafka")
    procs.ensure_port_free(ctrl, "Kafka controller")
    procs.ensure_port_free(secure, "Kafka SASL_SSL listener")
    lib = lib or ensure_jars()
    config = write_config(cfg, node)
    format_storage(cfg, lib, config, node)
    argv = [
        "java",
        "-Xmx512m",
        "-Xms512m",
        *cfg.kafka_jvm_options,
        *_java(lib, "kafka.Kafka", str(config))[1:],
    ]
    return procs.spawn(cfg, node_name(node), argv).pid


_TOPIC_OWN = 1  # DescribeConfigs v1+: a config set on the topic itself (DYNAMIC_TOPIC_CONFIG)


async def _configure_existing(admin: Any, specs: list[Any]) -> None:
    """Topics made before their configs were set (a dead-letter topic's retention): set them,
    each alone (AlterConfigs replaces what it names and keeps the rest only when
    incremental; these name theirs in full with the min.insync.replicas read back)."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    for spec in specs:
        resource = ConfigResource(ConfigResourceType.TOPIC, spec.name)
        (described,) = (await admin.describe_configs([resource]))[0].resources
        current = {c[0]: c[1] for c in described[4] if c[3] == _TOPIC_OWN}
        if all(current.get(k) == v for k, v in spec.configs):
            continue
        wanted = {**current, **dict(spec.configs)}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name, wanted)])


async def _create_topics(cfg: StackConfig) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from hospital_shared.topics import all_topics

    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.kafka_bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        brokers = (await admin.describe_cluster())["brokers"]
        if len(brokers) < cfg.kafka_brokers:
            raise StackError(f"{len(brokers)} of {cfg.kafka_brokers} Kafka brokers registered")
        specs = all_topics()
        wanted = {spec.name: spec.partitions for spec in specs}
        existing = set(await admin.list_topics())
        factor, min_isr = cfg.kafka_replication
        configs = {s.name: {"min.insync.replicas": str(min_isr), **dict(s.configs)} for s in specs}
        new = [
            NewTopic(n, p, factor, topic_configs=configs[n])
            for n, p in wanted.items()
            if n not in existing
        ]
        await _configure_existing(admin, [s for s in specs if s.configs and s.name in existing])
        if new:
            resp = await admin.create_topics(new, timeout_ms=30000)
            for err in resp.topic_errors:
                topic, code = err[0], err[1]
                if code not in (0, 36):  # 36 = TOPIC_ALREADY_EXISTS
                    raise StackError(f"creating Kafka topic {topic}: error code {code}")
        described = await admin.describe_topics(list(wanted))
        short = {t["topic"]: len(t["partitions"]) for t in described}
        grow = {n: p for n, p in wanted.items() if 0 < short.get(n, 0) < p}
        if grow:  # e.g. auto-created with one partition before devstack made it
            from aiokafka.admin import NewPartitions

            await admin.create_partitions({n: NewPartitions(p) for n, p in grow.items()})
        missing = [n for n in wanted if short.get(n, 0) == 0]
        if missing:
            raise StackError(f"Kafka topics not visible yet: {missing}")
    finally:
        await admin.close()


def wait_ready(cfg: StackConfig, pids: list[int], timeout: float = 120.0) -> None:
    """Ready when every broker has registered and every platform topic exists."""

    def check() -> bool:
        for node, pid in zip(cfg.kafka_nodes, pids, strict=True):
            if not procs.is_alive(pid):
                raise procs.GiveUp(f"Kafka node {node}: the process exited" + _tail(cfg, node))
        # no client connects before every node listens (see procs.port_open)
        if not all(procs.port_open(cfg.kafka_node_ports(n)[0]) for n in cfg.kafka_nodes):
            return False
        procs.run_coro(lambda: asyncio.wait_for(_create_topics(cfg), 30))
        return True

    quiet = logging.getLogger("aiokafka")  # "Unable connect ..." while the broker boots
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        procs.wait_until(check, timeout=timeout, what="Kafka", log=cfg.log_file(NAME), interval=0.5)
    finally:
        quiet.setLevel(level)


def _tail(cfg: StackConfig, node: int) -> str:
    log = cfg.log_file(node_name(node))
    return f"; last lines of {log}:\n{procs.tail(log)}"


def up(cfg: StackConfig) -> None:
    """Start every node (unless it runs) and wait until the cluster serves every topic. A
    node that could not bind a port nobody listens on is started once more: a client's
    connection may have held it for a moment, connected to itself (see `procs.port_open`)."""
    try:
        wait_ready(cfg, start(cfg))
    except StackError as exc:
        if "Address already in use" not in str(exc):
            raise
        time.sleep(1)
        wait_ready(cfg, start(cfg))
