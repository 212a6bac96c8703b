"""Where the native stack lives and which ports it uses, and the environment it hands out."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

# tools/devstack/devstack/config.py -> the repository root is three folders up.
REPO_ROOT = Path(__file__).resolve().parents[3]
DEVSTACK_DIR = REPO_ROOT / "tools" / "devstack"
CACHE_DIR = REPO_ROOT / ".cache"

SERVICES: tuple[str, ...] = (
    "registration",
    "followup",
    "complaints",
    "notifications",
    "metrics",
    "console",  # the staff console (last: it calls the other five)
)

KAFKA_SASL_USERNAME = "hospital"
KAFKA_SASL_PASSWORD = "hospital-kafka-dev"
KANNEL_USERNAME = "hospital"
KANNEL_PASSWORD = "hospital-dev"
KANNEL_ADMIN_PASSWORD = "hospital-admin"
PG_USER = "hospital"
PG_PASSWORD = "hospital"
PG_DATABASE = "hospital"

_TEST_PORT_OFFSET = 10000


# Who plays the operator behind Kannel (DEVSTACK_SMSC): `fakesmsc` (Kannel's own test
# client, one line per SMS, ~120 SMS/s) or `smpp` (smsc_sim.py, an SMPP v3.4 SMSC the stack
# runs, bound several times over, with delivery receipts: the 1,000 SMS/s path).
SMSC_KINDS = ("fakesmsc", "smpp")


@dataclass(frozen=True)
class SmppTuning:
    """How Kannel meets the SMPP operator (DEVSTACK_SMSC=smpp; kannel.py writes it into
    kannel.conf): `binds` transceiver binds (`instances`), each with up to `window` submits
    awaiting their submit_sm_resp (`max-pending-submits`; Kannel's default 10 leaves one bind
    bound by the round trip), and at most `http_requests` HTTP requests (delivery reports,
    MO forwards) under way from smsbox at once (`max-pending-requests`, Kannel's default).
    At 512 smsbox keeps up to 512 connections to the dlr-url and poll()s each of them on every
    wake-up; 32 or 64 take a quarter less smsbox CPU per SMS but hold the receipts back
    (p50 seconds instead of ~0.1 s) and deliver no faster (docs/bench.md, session 14)."""

    binds: int = 4
    window: int = 50
    http_requests: int = 512


def _smsc_setting() -> str:
    raw = os.environ.get("DEVSTACK_SMSC", "fakesmsc").strip().lower() or "fakesmsc"
    if raw not in SMSC_KINDS:
        raise ValueError(f"DEVSTACK_SMSC={raw!r}: one of {', '.join(SMSC_KINDS)}")
    return raw


def _brokers_setting() -> int:
    raw = os.environ.get("DEVSTACK_KAFKA_BROKERS", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"DEVSTACK_KAFKA_BROKERS={raw!r}: give the number of brokers (1 or 3)")
    return int(raw)


# A broker's JVM compiles its hot code twice, with C1 and then C2; on a fresh stack that
# compiling was half of the broker's CPU while the first load went through it (bench latency
# at 1,000 events/s: a whole run cost the broker 29.2 s of CPU, 22.7 s with C1 only, as
# Keycloak runs here; docs/bench.md, session 15). C1's code is slower per request, so a broker
# that runs long under load does better with the JVM's defaults: DEVSTACK_KAFKA_JVM_OPTIONS
# replaces this (space-separated; empty: the defaults).
DEFAULT_KAFKA_JVM_OPTIONS = "-XX:TieredStopAtLevel=1"


def _kafka_jvm_setting() -> tuple[str, ...]:
    return tuple(os.environ.get("DEVSTACK_KAFKA_JVM_OPTIONS", DEFAULT_KAFKA_JVM_OPTIONS).split())


def state_root(repo: Path) -> Path:
    """The folder the state folders (`.stack`, `.stack-test-N`) are made in: the checkout,
    unless `DEVSTACK_STATE_ROOT` names another (a checkout under a folder the PostgreSQL user
    cannot enter, a slow or full disk): then `<root>/<checkout name>-<hash of its path>`, so
    two checkouts never share one."""
    root = os.environ.get("DEVSTACK_STATE_ROOT")
    if not root:
        return repo
    key = hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:8]
    return Path(root).expanduser().resolve() / f"{repo.resolve().name}-{key}"


@dataclass(frozen=True)
class StackConfig:
    """One native stack: a state folder (data, logs, pid files) and its ports."""

    state_dir: Path
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    # The broker's second listener: SASL_SSL (TLS with a devstack CA, SASL PLAIN login), for
    # trying and testing the services' encrypted, authenticated Kafka connections.
    kafka_secure_port: int = 9094
    postgres_port: int = 5432
    kannel_admin_port: int = 13000
    kannel_smsbox_port: int = 13001
    kannel_sendsms_port: int = 13013
    kannel_smsc_port: int = 13015
    # A second fake SMSC that only receives: `devstack.kannel.inject_mo` writes MO lines to it.
    kannel_mo_port: int = 13016
    # The SMPP SMSC simulator (smsc_sim.py) when `smsc` is "smpp": Kannel binds to it.
    kannel_smpp_port: int = 13017
    prometheus_port: int = 9090
    alertmanager_port: int = 9095
    registration_port: int = 8001
    followup_port: int = 8002
    complaints_port: int = 8003
    notifications_port: int = 8004
    metrics_port: int = 8005
    console_port: int = 8006
    mllp_port: int = 2575
    # Keycloak (keycloak.py): the identity provider, HTTP only on the loopback.
    keycloak_port: int = 8180
    # How many Kafka nodes (each broker and KRaft controller). 3 (DEVSTACK_KAFKA_BROKERS=3,
    # `make chaos`): topics replicated 3 times with min.insync.replicas=2, so one broker can be
    # killed while producers (acks=all) go on. Node n (1-based) listens on the node-1 ports
    # + 10 * (n - 1): 9092/9093/9094, 9102/9103/9104, 9112/9113/9114.
    kafka_brokers: int = dataclasses.field(default_factory=lambda: _brokers_setting())
    # The brokers' extra JVM options (DEVSTACK_KAFKA_JVM_OPTIONS, above): C1 only by default.
    kafka_jvm_options: tuple[str, ...] = dataclasses.field(
        default_factory=lambda: _kafka_jvm_setting()
    )
    # The operator behind Kannel: "fakesmsc" (default) or "smpp" (DEVSTACK_SMSC, above).
    smsc: str = dataclasses.field(default_factory=lambda: _smsc_setting())
    # Kannel's SMPP binds, window and smsbox HTTP concurrency when `smsc` is "smpp".
    smpp: SmppTuning = SmppTuning()

    @classmethod
    def default(cls, repo: Path = REPO_ROOT) -> StackConfig:
        """The stack `make up` runs: state in `<repo>/.stack`, the usual ports."""
        return cls(state_dir=state_root(repo) / ".stack")

    @classmethod
    def for_tests(cls, repo: Path = REPO_ROOT) -> StackConfig:
        """The test stack: state in `<repo>/.stack-test`, every port + 10000. With
        `DEVSTACK_TEST_PORT_OFFSET`, every port + that offset and state in
        `.stack-test-<offset>`, so two test runs (of one checkout or two) can run side by
        side: each session takes its own stack down and up again at the start."""
        offset = int(os.environ.get("DEVSTACK_TEST_PORT_OFFSET", _TEST_PORT_OFFSET))
        folder = ".stack-test" if offset == _TEST_PORT_OFFSET else f".stack-test-{offset}"
        return cls.shifted(state_root(repo) / folder, offset)

    @classmethod
    def shifted(cls, state_dir: Path, offset: int) -> StackConfig:
        """A stack in `state_dir` with every port moved by `offset`."""
        ports = {
            f.name: getattr(cls, f.name) + offset
            for f in dataclasses.fields(cls)
            if f.name.endswith("_port")
        }
        return cls(state_dir=state_dir, **ports)

    # ----- folders -----
    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pids_dir(self) -> Path:
        return self.state_dir / "pids"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"

    def log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    # ----- services -----
    def service_port(self, name: str) -> int:
        if name not in SERVICES:
            raise ValueError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
        port: int = getattr(self, f"{name}_port")
        return port

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.service_port(name)}"

    def kafka_node_ports(self, node: int) -> tuple[int, int, int]:
        """(plain, controller, SASL_SSL) ports of Kafka node `node` (1-based)."""
        shift = 10 * (node - 1)
        ports = (self.kafka_port, self.kafka_controller_port, self.kafka_secure_port)
        return ports[0] + shift, ports[1] + shift, ports[2] + shift

    @property
    def kafka_nodes(self) -> range:
        return range(1, self.kafka_brokers + 1)

    @property
    def kafka_replication(self) -> tuple[int, int]:
        """(replication factor, min.insync.replicas) of every topic: (1, 1) on one broker,
        (3, 2) on three or more: one broker may be down while acks=all producers go on."""
        factor = min(3, self.kafka_brokers)
        return factor, 2 if factor >= 3 else 1

    @property
    def kafka_bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.kafka_node_ports(n)[0]}" for n in self.kafka_nodes)

    @property
    def database_url(self) -> str:
        # Plain on the loopback, said outright: the server answers TLS too, and asyncpg's
        # default (sslmode=prefer) would take it, unverified, for every connection.
        return (
            f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.postgres_port}/{PG_DATABASE}"
            "?sslmode=disable"
        )

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    @property
    def keycloak_url(self) -> str:
        return f"http://127.0.0.1:{self.keycloak_port}"

    @property
    def kannel_admin_url(self) -> str:
        return f"http://127.0.0.1:{self.kannel_admin_port}"

    @property
    def kannel_access_log(self) -> Path:
        return self.logs_dir / "kannel-access.log"

    @property
    def operator_log(self) -> Path:
        """The operator's side of Kannel: every SMS it got, with number and text, one
        `Got message N: <from to kind text>` line each (fakesmsc's, or the SMPP simulator's
        in the same form), which tests read as what the patient received."""
        return self.log_file("smsc-sim" if self.smsc == "smpp" else "fakesmsc")

    @property
    def kannel_sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.kannel_sendsms_port}/cgi-bin/sendsms"

    def env(self) -> dict[str, str]:
        """The stack environment: what services, tests and a shell need to reach the stack."""
        from hospital_shared.auth import DEV_TOKEN_ENV_NAMES, DEV_TOKENS

        env: dict[str, str] = {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "DATABASE_URL": self.database_url,
            "HOSPITAL_TZ": "Asia/Shanghai",
            "ENV": "development",
        }
        for name in SERVICES:
            env[f"{name.upper()}_URL"] = self.service_url(name)
        for name in SERVICES:
            env[f"{name.upper()}_HTTP_PORT"] = str(self.service_port(name))
        env |= {
            "REGISTRATION_MLLP_PORT": str(self.mllp_port),
            # The MLLP listener refuses every source unless told which: here, the loopback.
            "REGISTRATION_MLLP_ALLOWED_SOURCES": "127.0.0.1,::1",
            "NOTIFICATIONS_KANNEL_URL": self.kannel_sendsms_url,
            "NOTIFICATIONS_KANNEL_USERNAME": KANNEL_USERNAME,
            "NOTIFICATIONS_KANNEL_PASSWORD": KANNEL_PASSWORD,
            "NOTIFICATIONS_PUBLIC_URL": self.service_url("notifications"),
            # bearerbox's access log, where an interrupted hand-over is looked up (kannel.py)
            "NOTIFICATIONS_KANNEL_ACCESS_LOG": str(self.kannel_access_log),
            "KANNEL_ADMIN_URL": self.kannel_admin_url,
            "KANNEL_ADMIN_PASSWORD": KANNEL_ADMIN_PASSWORD,
            "KANNEL_MO_PORT": str(self.kannel_mo_port),
            "PROMETHEUS_URL": self.prometheus_url,
            "ALERTMANAGER_URL": self.alertmanager_url,
            # A new counter series is served at 0 this long: two of Prometheus's 5 s scrapes.
            "METRICS_NEW_SERIES_ZERO_S": "12",
            # where staff notifications link to (their task's or case's console page)
            "CONSOLE_BASE_URL": self.service_url("console"),
            "DEVSTACK_STATE_DIR": str(self.state_dir),
            # The SASL_SSL listener; not read by the services (they use plain KAFKA_* unless
            # told otherwise): see "Kafka over TLS" in the README.
            "DEVSTACK_KAFKA_SECURE_BOOTSTRAP": ",".join(
                f"127.0.0.1:{self.kafka_node_ports(n)[2]}" for n in self.kafka_nodes
            ),
            "DEVSTACK_KAFKA_CA_FILE": str(self.state_dir / "kafka" / "tls" / "ca.pem"),
            "DEVSTACK_KAFKA_SASL_USERNAME": KAFKA_SASL_USERNAME,
            "DEVSTACK_KAFKA_SASL_PASSWORD": KAFKA_SASL_PASSWORD,
            # PostgreSQL answers TLS too: DATABASE_URL + ?sslmode=verify-full&sslrootcert=this
            "DEVSTACK_POSTGRES_CA_FILE": str(self.state_dir / "postgres-ca.pem"),
        }
        for token in DEV_TOKENS:
            env[DEV_TOKEN_ENV_NAMES[token]] = token
        return env | self.keycloak_env()

    def keycloak_env(self) -> dict[str, str]:
        """Keycloak's part: where it is, what the services check tokens against, the clients'
        ids and secrets and the development realm's people (KEYCLOAK_USER_<NAME> and
        KEYCLOAK_PASSWORD_<NAME>; never KC_*, which Keycloak itself reads as options)."""
        from devstack import keycloak

        secrets = keycloak.client_secrets()
        env = {
            "KEYCLOAK_URL": self.keycloak_url,
            "KEYCLOAK_REALM": keycloak.REALM,
            "KEYCLOAK_ADMIN_USERNAME": keycloak.ADMIN_USERNAME,
            "KEYCLOAK_ADMIN_PASSWORD": keycloak.ADMIN_PASSWORD,
            # read by every service (hospital_shared.auth): Keycloak's access tokens count
            "OIDC_ISSUER_URL": keycloak.realm_url(self),
            "OIDC_AUDIENCE": "hospital-api",
            "CONSOLE_OIDC_CLIENT_ID": "console",
            "CONSOLE_OIDC_CLIENT_SECRET": secrets["console"],
            "KEYCLOAK_SYSTEMS_CLIENT_ID": "hospital-systems",
            "KEYCLOAK_SYSTEMS_CLIENT_SECRET": secrets["hospital-systems"],
            "KEYCLOAK_CLI_CLIENT_ID": "hospital-cli",
        }
        for user, password in keycloak.dev_users().items():
            key = user.upper().replace("-", "_")
            env[f"KEYCLOAK_USER_{key}"] = user
            env[f"KEYCLOAK_PASSWORD_{key}"] = password
        return env
