"""docker-compose.yml and deploy/ checked against the code, without Docker: service commands
and ports, the variables each service is given, Kafka/PostgreSQL/Kannel wiring, Prometheus
targets, Grafana provisioning and the topics kafka-init creates."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from hospital_shared.auth import DEV_TOKENS, Role
from hospital_shared.config_docs import env_prefix, env_vars, settings_class
from hospital_shared.topics import DLQ_CONFIGS, all_topics

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SERVICES = ("registration", "followup", "complaints", "notifications", "metrics")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return doc


def _service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    assert name in compose["services"], f"docker-compose.yml has no service {name!r}"
    svc: dict[str, Any] = compose["services"][name]
    return svc


def _env(
    compose: dict[str, Any], name: str, variables: dict[str, str] | None = None
) -> dict[str, str]:
    """The service's environment, `${VAR:-default}` resolved as compose does with
    `variables` set (and nothing else)."""
    env = _service(compose, name).get("environment") or {}
    assert isinstance(env, dict), f"{name}: write environment as a mapping"
    return {str(k): _interpolate(str(v), variables or {}) for k, v in env.items()}


def _interpolate(value: str, variables: dict[str, str]) -> str:
    return re.sub(
        r"\$\{(\w+):-([^}]*)\}", lambda m: variables.get(m[1]) or m[2], value.replace("$$", "\0")
    ).replace("\0", "$$")


def _published(compose: dict[str, Any], name: str) -> dict[int, int]:
    """container port -> host port."""
    ports: dict[int, int] = {}
    for entry in _service(compose, name).get("ports", []):
        if isinstance(entry, dict):
            ports[int(entry["target"])] = int(entry["published"])
        else:
            *_, host, container = str(entry).split(":")
            ports[int(container)] = int(host)
    return ports


def _clean_env(monkeypatch: pytest.MonkeyPatch, cls: type[BaseSettings]) -> None:
    names = {v.name for v in env_vars(cls)}
    prefix = env_prefix(cls)
    for key in list(os.environ):
        if key.upper() in names or key.upper().startswith(prefix):
            monkeypatch.delenv(key)


def _kannel_groups() -> list[dict[str, str]]:
    groups: list[dict[str, str]] = []
    for raw in (DEPLOY / "kannel" / "kannel.conf").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = (part.strip() for part in line.partition("="))
        if key == "group":
            groups.append({})
        groups[-1][key] = value.strip('"')
    return groups


def _kannel_group(name: str) -> dict[str, str]:
    found = [g for g in _kannel_groups() if g["group"] == name]
    assert found, f"kannel.conf has no group {name!r}"
    return found[0]


# --- the five services ---------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_service_runs_its_module(compose: dict[str, Any], name: str) -> None:
    svc = _service(compose, name)
    assert svc["command"] == ["python", "-m", name]
    assert svc["build"]["context"] == "."
    assert (ROOT / svc["build"].get("dockerfile", "Dockerfile")).is_file()


@pytest.mark.parametrize("name", SERVICES)
def test_published_port_is_the_default_http_port(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = settings_class(name)
    _clean_env(monkeypatch, cls)
    port = cls().http_port  # type: ignore[attr-defined]
    assert port == cls.default_http_port  # type: ignore[attr-defined]
    assert _published(compose, name).get(port) == port, f"{name} must publish {port}:{port}"
    assert _env(compose, name).get(f"{env_prefix(cls)}HTTP_PORT") == str(port)
    probe = " ".join(_service(compose, name)["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/readyz" in probe, f"{name}'s healthcheck must probe /readyz"


def test_registration_publishes_its_mllp_port(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = settings_class("registration")
    _clean_env(monkeypatch, cls)
    mllp_port = cls().mllp_port  # type: ignore[attr-defined]
    assert _published(compose, "registration").get(mllp_port) == mllp_port
    assert _env(compose, "registration").get("REGISTRATION_MLLP_PORT") == str(mllp_port)


@pytest.mark.parametrize("name", SERVICES)
def test_every_required_setting_is_given(compose: dict[str, Any], name: str) -> None:
    env = _env(compose, name)
    missing = [v.name for v in env_vars(settings_class(name)) if v.required and v.name not in env]
    assert not missing, f"{name} needs {missing}"


@pytest.mark.parametrize("name", SERVICES)
def test_no_setting_keeps_a_loopback_default(compose: dict[str, Any], name: str) -> None:
    """Inside a container 127.0.0.1 is the container itself: every address must be overridden."""
    env = _env(compose, name)
    for v in env_vars(settings_class(name)):
        if isinstance(v.default, str) and any(lo in v.default for lo in LOOPBACK):
            assert v.name in env, f"{name}: {v.name} defaults to {v.default!r}; set it"
            assert not any(lo in env[v.name] for lo in LOOPBACK), f"{name}: {v.name}={env[v.name]}"
    prefix = env_prefix(settings_class(name))
    assert env[f"{prefix}HTTP_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("name", SERVICES)
def test_every_given_variable_is_read(compose: dict[str, Any], name: str) -> None:
    known = {v.name for v in env_vars(settings_class(name))}
    unknown = sorted(set(_env(compose, name)) - known)
    assert not unknown, f"{name} does not read {unknown} (typo?)"


def _other_value(default: Any) -> str:
    """An environment value that differs from `default` (or that the field rejects)."""
    if isinstance(default, bool):
        return "false" if default else "true"
    if isinstance(default, int | float):
        return str(default + 1)
    if isinstance(default, list | tuple):
        return "[]" if default else '["sentinel"]'
    if isinstance(default, dict):
        return "{}" if default else '{"sentinel": null}'
    return "sentinel"


@pytest.mark.parametrize("name", SERVICES)
def test_variable_names_are_the_ones_settings_read(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each name env_vars() computes (and the tests above trust) reaches its field: setting it
    changes the field, or fails validation at that field."""
    cls = settings_class(name)
    _clean_env(monkeypatch, cls)
    baseline = cls()
    for v in env_vars(cls):
        with monkeypatch.context() as m:
            m.setenv(v.name, _other_value(getattr(baseline, v.field)))
            try:
                changed = getattr(cls(), v.field) != getattr(baseline, v.field)
            except ValidationError as exc:
                where = {str(e["loc"][0]).upper() for e in exc.errors() if e["loc"]}
                # a check across fields (no location) names the variables in its message
                named = any(not e["loc"] and v.name in e["msg"] for e in exc.errors())
                changed = bool(where & {v.field.upper(), v.name}) or named
            assert changed, f"{name}: {v.name} does not reach {v.field}"


def test_shared_environment_is_one_anchor() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "x-service-env: &service-env" in text
    for name in SERVICES:
        block = text.split(f"\n  {name}:\n", 1)[1].split("\n\n", 1)[0]
        assert "<<: *service-env" in block, f"{name} must merge *service-env"


# --- infrastructure ------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_services_wait_for_healthy_kafka_and_postgres(compose: dict[str, Any], name: str) -> None:
    deps = _service(compose, name)["depends_on"]
    assert deps["kafka"]["condition"] == "service_healthy"
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["kafka-init"]["condition"] == "service_completed_successfully"
    for infra in ("kafka", "postgres"):
        assert _service(compose, infra).get("healthcheck"), f"{infra} needs a healthcheck"


def _kafka_listeners(compose: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    env = _env(compose, "kafka")

    def parse(value: str) -> dict[str, str]:
        return dict(item.split("://", 1) for item in value.split(","))

    return parse(env["KAFKA_LISTENERS"]), parse(env["KAFKA_ADVERTISED_LISTENERS"])


def test_kafka_bootstrap_points_at_the_kafka_service(compose: dict[str, Any]) -> None:
    listeners, advertised = _kafka_listeners(compose)
    internal = [(name, addr) for name, addr in advertised.items() if addr.split(":")[0] == "kafka"]
    assert len(internal) == 1, "one listener must be advertised as kafka:<port>"
    listener, address = internal[0]
    assert listeners[listener].rsplit(":", 1)[1] == address.rsplit(":", 1)[1]
    for name in SERVICES:
        assert _env(compose, name)["KAFKA_BOOTSTRAP_SERVERS"] == address
    assert _env(compose, "kafka-init")["BOOTSTRAP_SERVERS"] == address
    assert _service(compose, "kafka")["image"].startswith("apache/kafka:")
    # the host reaches the listener advertised for it through the published port 9092
    host_port = _published(compose, "kafka")
    host_listeners = [n for n, a in advertised.items() if a.split(":")[0] in LOOPBACK]
    assert len(host_listeners) == 1
    target = int(listeners[host_listeners[0]].rsplit(":", 1)[1])
    assert host_port.get(target) == int(advertised[host_listeners[0]].rsplit(":", 1)[1]) == 9092


def test_database_url_points_at_the_postgres_service(compose: dict[str, Any]) -> None:
    pg = _env(compose, "postgres")
    for name in SERVICES:
        url = urlsplit(_env(compose, name)["DATABASE_URL"])
        assert url.scheme in ("postgresql", "postgres")
        assert (url.hostname, url.port or 5432) == ("postgres", 5432)
        assert url.username == pg["POSTGRES_USER"]
        assert url.password == pg["POSTGRES_PASSWORD"]
        assert url.path.lstrip("/") == pg["POSTGRES_DB"]
    assert _service(compose, "postgres")["image"] == "postgres:15"
    assert "pg_isready" in " ".join(_service(compose, "postgres")["healthcheck"]["test"])


# Broker settings the compose file's Kafka must share with devstack's (what the tests and the
# bench run against): replication of the internal topics, the rebalance delay, index sizes.
SHARED_BROKER_SETTINGS = (
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "group.initial.rebalance.delay.ms",
    "log.index.size.max.bytes",
)


# The `cluster` profile's variables (docker-compose.yml, x-kafka-env), as devstack's
# DEVSTACK_KAFKA_BROKERS=3.
CLUSTER_VARIABLES = {"KAFKA_REPLICATION_FACTOR": "3", "KAFKA_MIN_INSYNC_REPLICAS": "2"}
BROKERS = ("kafka", "kafka-2", "kafka-3")


@pytest.mark.parametrize(
    ("brokers", "variables"), [(1, {}), (3, CLUSTER_VARIABLES)], ids=["single", "cluster"]
)
def test_kafka_broker_settings_match_devstack(
    compose: dict[str, Any], tmp_path: Path, brokers: int, variables: dict[str, str]
) -> None:
    from devstack import kafka
    from devstack.config import StackConfig

    cfg = StackConfig(state_dir=tmp_path, kafka_brokers=brokers)
    written = kafka.write_config(cfg).read_text(encoding="utf-8")
    devstack = dict(
        line.split("=", 1) for line in written.splitlines() if line and not line.startswith("#")
    )
    for broker in BROKERS[:brokers]:
        env = _env(compose, broker, variables)
        for name in SHARED_BROKER_SETTINGS:
            variable = "KAFKA_" + name.upper().replace(".", "_")
            assert env.get(variable) == devstack[name], f"{broker}: {variable} != devstack's {name}"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == devstack["min.insync.replicas"]
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == devstack["default.replication.factor"]


def test_cluster_profile_adds_two_brokers_to_the_kafka_service(compose: dict[str, Any]) -> None:
    first = _env(compose, "kafka")
    for node, name in enumerate(BROKERS[1:], start=2):
        svc, env = _service(compose, name), _env(compose, name)
        assert svc["profiles"] == ["cluster"], f"{name} runs only with the cluster profile"
        assert svc["image"] == _service(compose, "kafka")["image"]
        assert env["KAFKA_NODE_ID"] == str(node)
        assert env["KAFKA_PROCESS_ROLES"] == "broker"
        for same in ("CLUSTER_ID", "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_LOG_DIRS"):
            assert env[same] == first[same], f"{name}: {same}"
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert svc["healthcheck"]["test"] == _service(compose, "kafka")["healthcheck"]["test"]
        assert svc["volumes"] == [f"{name}-data:/var/lib/kafka/data"]
        assert f"{name}-data" in compose["volumes"]
        for waiting in (*SERVICES, "kafka-init"):
            dep = _service(compose, waiting)["depends_on"][name]
            assert dep == {"condition": "service_healthy", "required": False}, waiting


def _kafka_init_topics(compose: dict[str, Any]) -> list[tuple[str, int]]:
    specs = _env(compose, "kafka-init")["TOPICS"].split()
    return [(spec.rsplit(":", 1)[0], int(spec.rsplit(":", 1)[1])) for spec in specs]


def test_kafka_init_topics_are_all_topics(compose: dict[str, Any]) -> None:
    assert _kafka_init_topics(compose) == [(t.name, t.partitions) for t in all_topics()]


def test_kafka_init_script_creates_each_topic(compose: dict[str, Any]) -> None:
    """Run the script with kafka-topics.sh replaced by echo and read what it would create."""
    init = _service(compose, "kafka-init")
    assert init["image"] == _service(compose, "kafka")["image"]
    script = init["command"][0].replace("$$", "$")
    assert "/opt/kafka/bin/kafka-topics.sh" in script
    script = script.replace("/opt/kafka/bin/kafka-topics.sh", "echo")
    script = script.replace("/opt/kafka/bin/kafka-configs.sh", "echo")
    shell, *flags = init["entrypoint"]
    assert shell.endswith("bash")
    argv = ["bash", *flags, script]
    for variables, replication in (
        ({}, "1 --config min.insync.replicas=1"),
        (CLUSTER_VARIABLES, "3 --config min.insync.replicas=2"),
    ):
        env = {**os.environ, **_env(compose, "kafka-init", variables)}
        out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
        created = [
            (m["topic"], int(m["partitions"]))
            for m in re.finditer(r"--topic (?P<topic>\S+) --partitions (?P<partitions>\d+)", out)
        ]
        assert created == [(t.name, t.partitions) for t in all_topics()]
        assert out.count("--create --if-not-exists") == len(created)
        assert out.count(f"--replication-factor {replication}") == len(created)
        # a dead-letter topic keeps its records 35 days, made so or altered so
        retention = dict(DLQ_CONFIGS)["retention.ms"]
        dead = [t.name for t in all_topics() if t.name.endswith(".dlq")]
        for topic in dead:
            assert (
                f"--topic {topic} --partitions 3 --replication-factor {replication}"
                f" --config retention.ms={retention}" in out
            )
            assert f"--entity-name {topic} --add-config retention.ms={retention}" in out
        assert out.count("retention.ms") == 2 * len(dead)


def test_notifications_and_kannel_agree(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(compose, "notifications")
    smsbox = _kannel_group("smsbox")
    user = _kannel_group("sendsms-user")
    url = urlsplit(env["NOTIFICATIONS_KANNEL_URL"])
    assert (url.hostname, url.port, url.path) == (
        "kannel",
        int(smsbox["sendsms-port"]),
        "/cgi-bin/sendsms",
    )
    assert env["NOTIFICATIONS_KANNEL_USERNAME"] == user["username"]
    assert env["NOTIFICATIONS_KANNEL_PASSWORD"] == user["password"]
    cls = settings_class("notifications")
    _clean_env(monkeypatch, cls)
    port = cls().http_port  # type: ignore[attr-defined]
    assert env["NOTIFICATIONS_PUBLIC_URL"] == f"http://notifications:{port}"
    inbound = urlsplit(_kannel_group("sms-service")["get-url"])
    assert (inbound.hostname, inbound.port, inbound.path) == (
        "notifications",
        port,
        "/v1/sms/inbound",
    )
    assert (
        _service(compose, "notifications")["depends_on"]["kannel"]["condition"] == "service_healthy"
    )
    kannel = _service(compose, "kannel")
    assert (ROOT / kannel["build"]["context"] / "Dockerfile").is_file()
    assert int(smsbox["sendsms-port"]) in _published(compose, "kannel")


def test_prometheus_scrapes_every_service(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {
        target
        for job in config["scrape_configs"]
        if job.get("metrics_path", "/metrics") == "/metrics"
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for name in (*SERVICES, "console"):  # ServiceDown covers the console too
        cls = settings_class(name)
        _clean_env(monkeypatch, cls)
        assert f"{name}:{cls().http_port}" in targets  # type: ignore[attr-defined]
    mounts = _service(compose, "prometheus")["volumes"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in mounts
    globs = config.get("rule_files", [])
    for rule_file in (DEPLOY / "prometheus" / "rules").iterdir():
        if rule_file.name != "README.md":
            assert any(Path("/etc/prometheus/rules", rule_file.name).match(g) for g in globs), (
                rule_file
            )


def test_prometheus_alerts_go_through_alertmanager_to_the_notifications_receiver(
    compose: dict[str, Any],
) -> None:
    """Issue 20: compose routes alerts as devstack does (tools/devstack/devstack/alertmanager.py)."""
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text("utf-8"))
    [am] = prometheus["alerting"]["alertmanagers"]
    assert am["static_configs"][0]["targets"] == ["alertmanager:9093"]
    mounts = _service(compose, "alertmanager")["volumes"]
    assert "./deploy/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in mounts
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text("utf-8"))
    [receiver] = config["receivers"]
    assert config["route"]["receiver"] == receiver["name"]
    [hook] = receiver["webhook_configs"]
    assert hook["url"] == "http://notifications:8004/v1/alerts"
    token = hook["http_config"]["authorization"]["credentials"]
    assert DEV_TOKENS[token].role is Role.INTEGRATION


def test_grafana_is_provisioned(compose: dict[str, Any]) -> None:
    grafana = _service(compose, "grafana")
    assert _published(compose, "grafana").get(3000) == 3000
    mounts = dict(m.rsplit(":", 1)[0].split(":", 1) for m in grafana["volumes"])
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    datasources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text(encoding="utf-8")
    )["datasources"]
    assert [d["url"] for d in datasources if d["type"] == "prometheus"] == [
        "http://prometheus:9090"
    ]
    assert _published(compose, "prometheus").get(9090) == 9090
    providers = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/dashboards.yml").read_text(encoding="utf-8")
    )["providers"]
    assert mounts["./deploy/grafana/dashboards"] == providers[0]["options"]["path"]
    for dashboard in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        assert dashboard.stat().st_size > 0


@pytest.mark.parametrize("zone", [None, "Asia/Urumqi"])
def test_the_dashboards_show_hospital_time(compose: dict[str, Any], zone: str | None) -> None:
    """The KPIs' days are HOSPITAL_TZ's: Grafana's charts are drawn in the same zone, whatever
    a hospital sets it to (the dashboards leave their zone to Grafana's default)."""
    variables = {"HOSPITAL_TZ": zone} if zone else {}
    hospital = {_env(compose, name, variables)["HOSPITAL_TZ"] for name in SERVICES}
    assert hospital == {zone or "Asia/Shanghai"}
    grafana = _env(compose, "grafana", variables)
    assert grafana["GF_USERS_DEFAULT_TIMEZONE"] == (zone or "Asia/Shanghai")
    for path in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        assert json.loads(path.read_text(encoding="utf-8"))["timezone"] == "", path.name


def test_dockerfile_copies_every_workspace_member() -> None:
    """The dependency layer needs each member's pyproject.toml before `uv sync`."""
    members = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"][
        "workspace"
    ]["members"]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for pattern in members:
        for member in sorted(ROOT.glob(pattern)):
            if (member / "pyproject.toml").is_file():
                rel = member.relative_to(ROOT).as_posix()
                assert f"COPY {rel}/pyproject.toml {rel}/" in dockerfile, rel
    assert "uv sync --frozen --no-dev" in dockerfile


# --- Kannel's callbacks, logs and retries ------------------------------------------------


def _allowed_callers(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    cls = settings_class("notifications")
    _clean_env(monkeypatch, cls)
    monkeypatch.setenv(
        "NOTIFICATIONS_CALLBACK_ALLOWED_IPS",
        _env(compose, "notifications")["NOTIFICATIONS_CALLBACK_ALLOWED_IPS"],
    )
    return cls().callback_allowed_ips  # type: ignore[attr-defined]


def test_kannel_calls_back_from_an_address_the_notifications_service_accepts(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Delivery reports and 退订 replies come from the Kannel container's address; with
    exact-string matching of a range they were all refused with 403."""
    import ipaddress

    from notifications.domain import caller_allowed

    (ipam,) = compose["networks"]["default"]["ipam"]["config"]
    subnet = ipaddress.ip_network(ipam["subnet"])
    dynamic = ipaddress.ip_network(ipam["ip_range"])
    gateway = ipaddress.ip_address(ipam["gateway"])
    kannel = ipaddress.ip_address(
        _service(compose, "kannel")["networks"]["default"]["ipv4_address"]
    )
    assert kannel in subnet and kannel not in dynamic and dynamic.subnet_of(subnet)  # type: ignore[arg-type]
    allowed = _allowed_callers(compose, monkeypatch)
    assert caller_allowed(str(kannel), allowed)
    # nothing else on the network, nor the host (through the gateway), may post them
    assert not caller_allowed(str(gateway), allowed)
    assert not any(caller_allowed(str(dynamic[i]), allowed) for i in (0, 1, 64, -2))
    for name, svc in compose["services"].items():
        assert "networks" not in svc or name == "kannel", f"{name}: keep it on the default network"


def test_kannel_retries_reports_and_logs_as_devstack_does(tmp_path: Path) -> None:
    from devstack import kannel
    from devstack.config import StackConfig

    written = kannel.write_config(StackConfig(state_dir=tmp_path)).read_text(encoding="utf-8")
    devstack_groups = {
        g.split("\n", 1)[0]: dict(
            (k.strip(), v.strip().strip('"'))
            for k, _, v in (ln.partition("=") for ln in g.splitlines() if "=" in ln)
        )
        for g in written.split("group = ")[1:]
    }
    smsbox = _kannel_group("smsbox")
    for key in ("http-request-retry", "http-queue-delay"):
        assert smsbox[key] == devstack_groups["smsbox"][key], key
    assert int(smsbox["http-request-retry"]) > 0
    core = _kannel_group("core")
    assert core["access-log-format"] == devstack_groups["core"]["access-log-format"]
    assert int(devstack_groups["smsbox"]["log-level"]) >= 2


@pytest.mark.parametrize("where", ["compose", "devstack"])
def test_kannels_access_log_names_our_message_but_not_the_number_or_text(
    where: str, tmp_path: Path
) -> None:
    from devstack import kannel

    fmt = _kannel_group("core")["access-log-format"] if where == "compose" else (
        kannel.ACCESS_LOG_FORMAT
    )  # fmt: skip
    # Kannel's escape codes for the sender, receiver and the text (gw/bb_alog.c)
    for code in ("%p", "%P", "%a", "%b", "%k", "%s", "%S", "%r", "%u", "%R", "%D"):
        assert code not in fmt, f"{code} would write a number, the text or the dlr-url"
    assert "[SMSC:%i] [SVC:%n] [ACT:%A]" in fmt  # what notifications.providers.kannel_log reads


def test_the_notifications_service_reads_kannels_access_log(compose: dict[str, Any]) -> None:
    path = _env(compose, "notifications")["NOTIFICATIONS_KANNEL_ACCESS_LOG"]
    assert path == _kannel_group("core")["access-log"]
    folder = str(Path(path).parent)
    assert f"kannel-logs:{folder}" in _service(compose, "kannel")["volumes"]
    assert f"kannel-logs:{folder}:ro" in _service(compose, "notifications")["volumes"]
    assert "kannel-logs" in compose["volumes"]
    entrypoint = (DEPLOY / "kannel" / "entrypoint.sh").read_text(encoding="utf-8")
    assert 'smsbox -v 2 "$CONF"' in entrypoint  # info would log every number and text
    assert "umask 027" in entrypoint
    assert _env(compose, "kannel")["KANNEL_LOG_READER_GID"] == "10001"
    assert "--gid 10001" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_the_access_log_rotation_keeps_the_last_files_and_reopens_the_log(
    tmp_path: Path,
) -> None:
    log = tmp_path / "access.log"
    for name, text in (
        ("access.log", "today"),
        ("access.log.1", "day-1"),
        ("access.log.2", "day-2"),
    ):
        (tmp_path / name).write_text(text)
    # stands in for bearerbox: notes the SIGHUP that makes it reopen its log
    bearerbox = subprocess.Popen(
        [sys.executable, "-c", "import signal,sys,time\n"
         "signal.signal(signal.SIGHUP, lambda *_: (print('reopened', flush=True), sys.exit(0)))\n"
         "print('ready', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert bearerbox.stdout is not None and bearerbox.stdout.readline() == "ready\n"
    script = DEPLOY / "kannel" / "rotate-access-log.sh"
    subprocess.run(
        ["bash", str(script), str(log), "2", str(os.getgid()), str(bearerbox.pid)], check=True
    )
    assert bearerbox.stdout.readline() == "reopened\n"
    bearerbox.wait(10)
    assert log.read_text() == "" and oct(log.stat().st_mode & 0o777) == "0o640"
    assert (tmp_path / "access.log.1").read_text() == "today"
    assert (tmp_path / "access.log.2").read_text() == "day-1"
    assert not (tmp_path / "access.log.3").exists()  # day-2 went: 2 rotated files are kept


def test_compose_takes_checked_backups_into_a_volume_with_the_documented_commands(
    compose: dict[str, Any],
) -> None:
    """The compose twin of `make backup` / `make restore` (README, "Backup and restore"): a
    `backup` service, not started by `up`, running devstack.backup against the compose
    database and Kafka into the named `backups` volume; the image has pg_dump and the
    README's restore runbook gives the commands."""
    backup = _service(compose, "backup")
    assert backup.get("profiles") == ["backup"] and backup.get("restart") == "no"
    command = backup["command"]
    assert command[:4] == ["python", "-m", "devstack.backup", "take"]
    assert "--env" in command and command[command.index("--dir") + 1] == "/backups"
    assert "backups:/backups" in backup["volumes"] and "backups" in compose["volumes"]
    env = backup["environment"]
    assert urlsplit(env["DATABASE_URL"]).hostname == "postgres"
    assert env["KAFKA_BOOTSTRAP_SERVERS"].split(",")[0].split(":")[0] == "kafka"
    assert "postgresql-client-15" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docker compose run --rm backup" in readme
    assert "python -m devstack.backup restore --env --dir /backups" in readme.replace("\n", " ")


def test_keycloak_and_the_console_are_wired_as_the_native_stack(compose: dict[str, Any]) -> None:
    """Keycloak's official image at the version devstack runs, the development realm imported
    from the repo; the console given every service's URL on the compose network, its client
    at Keycloak, and started after PostgreSQL and Keycloak."""
    from devstack import keycloak as native

    keycloak = _service(compose, "keycloak")
    assert keycloak["image"] == f"quay.io/keycloak/keycloak:{native.VERSION}"
    assert "--import-realm" in keycloak["command"]
    [realm] = [v for v in keycloak["volumes"] if "/opt/keycloak/data/import/" in v]
    # people made at the provider outlive the container (dev mode keeps them in its H2 files)
    assert "keycloak-data:/opt/keycloak/data" in keycloak["volumes"]
    assert "keycloak-data" in compose["volumes"]
    assert (ROOT / realm.split(":")[0]).is_file()
    env = _env(compose, "console")
    ports = {"registration": 8001, "followup": 8002, "complaints": 8003, "notifications": 8004,
             "metrics": 8005}  # fmt: skip
    for name, port in ports.items():
        assert env[f"{name.upper()}_URL"] == f"http://{name}:{port}"
    discovery = urlsplit(env["CONSOLE_OIDC_DISCOVERY_URL"])
    assert (discovery.hostname, discovery.port) == ("keycloak", 8180)
    assert set(_service(compose, "console")["depends_on"]) >= {"postgres", "keycloak"}
    assert _published(compose, "console") == {8006: 8006}
