"""Service settings from the environment (pydantic-settings).

Settings every service shares are read from unprefixed variables (`KAFKA_BOOTSTRAP_SERVERS`,
`DATABASE_URL`, ...), so one `.stack/env` or compose `environment:` block serves all five.
Each service's own settings use its prefix (`FOLLOWUP_HTTP_PORT`, `NOTIFICATIONS_KANNEL_URL`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hospital_shared.field_crypto import DEV_ENCRYPTION_KEY, DEV_HASH_KEY


def _shared(name: str, default: Any, description: str) -> Any:
    return Field(default, validation_alias=AliasChoices(name), description=description)


# The values of ENV that make a development or test stack, compared case-insensitively: only
# there do the public development tokens and the development staff exist. Anything else, an
# unset or misspelt ENV included ("PRODUCTION", "prod", "staging", ""), is production: a
# forgotten variable must not open the admin token to the world.
DEVELOPMENT_ENVS = frozenset({"development", "dev", "test"})


# Signatures checked with the identity provider's public keys: never `none`, never HS256 (a
# secret shared with every service would let any of them mint tokens).
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def is_development_env(env: str | None) -> bool:
    """Whether `ENV` says, explicitly, that this is a development or test stack."""
    return (env or "").strip().lower() in DEVELOPMENT_ENVS


class ServiceSettings(BaseSettings):
    """What every service needs. Subclasses set `service_name` and their env prefix."""

    model_config = SettingsConfigDict(extra="ignore")

    service_name: ClassVar[str] = "service"
    default_http_port: ClassVar[int] = 8000

    env: str = _shared(
        "ENV",
        "production",
        "development | dev | test (any case): a development or test stack, with the development"
        " tokens and staff; anything else, unset included, is production",
    )
    kafka_bootstrap_servers: str = _shared(
        "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", "Kafka bootstrap servers"
    )
    # Kafka over TLS and/or with a SASL login (hospital_shared.kafka_security).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = _shared(
        "KAFKA_SECURITY_PROTOCOL",
        "PLAINTEXT",
        "PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL (SSL: TLS; SASL_*: with a login)",
    )
    kafka_ssl_cafile: str | None = _shared(
        "KAFKA_SSL_CAFILE", None, "CA certificate(s) (PEM) to verify the broker; unset: system CAs"
    )
    kafka_ssl_certfile: str | None = _shared(
        "KAFKA_SSL_CERTFILE", None, "client certificate (PEM), when the broker asks for one"
    )
    kafka_ssl_keyfile: str | None = _shared(
        "KAFKA_SSL_KEYFILE", None, "the client certificate's private key (PEM)"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = _shared(
        "KAFKA_SASL_MECHANISM", "PLAIN", "SASL mechanism: PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512"
    )
    kafka_sasl_username: str | None = _shared("KAFKA_SASL_USERNAME", None, "SASL user")
    kafka_sasl_password: str | None = _shared("KAFKA_SASL_PASSWORD", None, "SASL password")
    database_url: str = _shared(
        "DATABASE_URL",
        "postgresql://hospital:hospital@127.0.0.1:5432/hospital",
        "PostgreSQL DSN; TLS: ?sslmode=verify-full&sslrootcert=<CA file>",
    )
    hospital_tz: str = _shared("HOSPITAL_TZ", "Asia/Shanghai", "hospital-local time zone")
    auth_tokens: str | None = _shared(
        "AUTH_TOKENS", None, "JSON token -> principal; development tokens when unset"
    )
    # The hospital's identity provider (jwt_auth.py): Keycloak's `hospital` realm on the native
    # stack, or any OpenID Connect provider. Unset: only the static tokens above count.
    oidc_issuer_url: str | None = _shared(
        "OIDC_ISSUER_URL",
        None,
        "the identity provider's issuer (Keycloak: <url>/realms/<realm>); its access tokens"
        " count when set",
    )
    oidc_audience: str = _shared(
        "OIDC_AUDIENCE", "hospital-api", "the audience (`aud`) an access token must name"
    )
    oidc_allowed_clients: list[str] = _shared(
        "OIDC_ALLOWED_CLIENTS",
        [],
        "client ids (a token's `azp`) whose tokens count, JSON: in production the console and"
        " the hospital systems' clients, not the development CLI; empty: any client's",
    )
    oidc_jwks_url: str | None = _shared(
        "OIDC_JWKS_URL",
        None,
        "where the provider's signing keys are (unset: the discovery document's jwks_uri)",
    )
    oidc_algorithms: list[str] = _shared(
        "OIDC_ALGORITHMS", ["RS256"], "signature algorithms accepted (asymmetric only)"
    )
    oidc_roles_claim: str = _shared(
        "OIDC_ROLES_CLAIM", "realm_access.roles", "claim (dotted path) with the person's roles"
    )
    oidc_staff_id_claim: str = _shared("OIDC_STAFF_ID_CLAIM", "staff_id", "claim: staff id")
    oidc_department_claim: str = _shared(
        "OIDC_DEPARTMENT_CLAIM", "department", "claim: department code"
    )
    oidc_name_claim: str = _shared("OIDC_NAME_CLAIM", "name", "claim: the person's name")
    oidc_leeway_s: float = Field(
        10.0, ge=0, le=300, validation_alias=AliasChoices("OIDC_LEEWAY_S"),
        description="clock skew allowed when checking exp and nbf (seconds)",
    )  # fmt: skip
    oidc_jwks_max_age_s: float = Field(
        300.0, gt=0, validation_alias=AliasChoices("OIDC_JWKS_MAX_AGE_S"),
        description="how long the provider's keys are cached before they are fetched again:"
        " a key withdrawn at the provider (a suspected compromise) counts up to this long",
    )  # fmt: skip
    oidc_jwks_min_refresh_s: float = Field(
        30.0, ge=0, validation_alias=AliasChoices("OIDC_JWKS_MIN_REFRESH_S"),
        description="keys past their max age are fetched again at most this often, and a key"
        " id a fetch did not find fetches nothing more for this long",
    )  # fmt: skip
    oidc_jwks_min_fetch_interval_s: float = Field(
        1.0, gt=0, validation_alias=AliasChoices("OIDC_JWKS_MIN_FETCH_INTERVAL_S"),
        description="a token naming a key id not seen before fetches the keys at once (a"
        " rotation), but all fetches together are at least this far apart (made-up key ids)",
    )  # fmt: skip
    oidc_http_timeout_s: float = Field(
        5.0, gt=0, validation_alias=AliasChoices("OIDC_HTTP_TIMEOUT_S"),
        description="timeout of a request to the identity provider",
    )  # fmt: skip
    log_level: str = _shared("LOG_LEVEL", "INFO", "log level")
    log_repeat_window_s: float = Field(
        10.0,
        ge=0,
        validation_alias=AliasChoices("LOG_REPEAT_WINDOW_S"),
        description="a warning or error repeated (same logger and message) is logged once per"
        " this many seconds, then summarised with its count (0: every line)",
    )
    http_host: str = "127.0.0.1"
    http_port: int = 0
    # Requests with a bigger body get 413, checked against Content-Length and while the body
    # streams in (never read whole first). Without it a 10 MB body was parsed (eight at once
    # took a service from 80 to 764 MB).
    http_max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="the largest request body (bytes) the HTTP API reads; bigger ones get 413",
    )
    consumer_group: str = ""
    outbox_poll_interval_s: float = 0.2
    # Rows per relay pass (registration, whose relay carries all it takes in, uses 2,000).
    outbox_batch_size: int = 500
    # How long a published event stays in the outbox, where adding an event with the same id
    # again is a no-op (services whose event ids are derived from their input rely on it).
    outbox_keep_published_s: float = Field(
        86400.0,
        ge=0,
        description="how long a published event stays in the outbox, where adding its id again is a no-op (0: deleted once published; only where event ids are random)",
    )
    retry_initial_backoff_s: float = 0.2
    retry_max_backoff_s: float = 10.0
    max_handler_attempts: int = 5
    # What one consumer may fetch ahead from the broker (per partition, and in all): the
    # records waiting in memory. Kafka's defaults (1 MB, 50 MB) let a service with several
    # consumers on 12-partition topics hold well over 100 MB of backlog; a batch of 500
    # events is ~300 KB.
    consumer_partition_fetch_bytes: int = 256 * 1024
    consumer_fetch_max_bytes: int = 4 * 1024 * 1024
    # The most events one consumer's batch holds. Each consumer of a service holds a batch at
    # once while a backlog is worked off, fetched and decoded (~5 KB an event in memory), so
    # a service with many consumers lowers it to keep its memory bounded (notifications: its
    # decoded events are bigger).
    consumer_max_records: int = Field(
        2000, ge=1, description="the most events in one consumer's batch"
    )
    # How long one poll of an idle consumer waits for records. FastStream's batch subscriber
    # sleeps as long again after an empty poll, so an event arriving then waits up to twice
    # this before it is handled (its default, 200 ms, meant up to 400 ms). A poll returns as
    # soon as records are there, so a backlog's batches are as big either way. Measured (bench
    # latency, 200 events/s): p99 follow-up 152 -> 47 ms, counters 132 -> 69 ms; an idle
    # metrics service (6 consumers) uses 1.4% more of a core.
    consumer_poll_ms: int = Field(
        20, ge=1, le=1000, description="an idle consumer's poll wait (and pause after it)"
    )
    # A consumer that keeps up with a steady stream takes it a record or two at a time, and
    # every batch costs the same whatever its size (a fetch, a transaction, its inbox
    # statement, an offset commit: most of the platform's CPU at 1,000 events/s, issue 22).
    # After a batch of fewer than `consumer_linger_records` records it therefore waits
    # `consumer_linger_ms` before it takes the next, so that what arrives meanwhile comes as one
    # batch. The first event after a quiet spell is handled at once; a backlog never waits
    # (a small batch with records still waiting on the broker neither). 0 turns it off.
    consumer_linger_ms: int = Field(
        20, ge=0, le=1000, description="wait after a small batch before taking the next (0: off)"
    )
    consumer_linger_records: int = Field(
        100,
        ge=1,
        description="a batch smaller than this is followed by the linger wait, and not split"
        " by partition",
    )
    # The least time between two offset commits of a consumer (offset_commits.py): a batch's
    # offsets go out with the next commit, at most this much later (the inbox skips what a
    # restart redelivers). Every small batch of a steady stream committed before: up to fifty
    # commits a second a consumer group, each written to `__consumer_offsets` by the broker.
    # 0 commits every batch at once.
    consumer_commit_interval_ms: int = Field(
        500, ge=0, le=10000, description="least time between two offset commits of a consumer"
    )
    # Transactions a batch is split into, by partition, that run at the same time: more than
    # one overlaps one part's database work with another part's Python work while a backlog
    # is worked off. Each takes a pooled connection.
    consumer_concurrency: int = Field(
        1, ge=1, le=8, description="transactions a batch is split into (by partition), run at once"
    )
    # While a batch is in the database (its transaction, its commit), the next one is fetched
    # and decoded beside it: decoding is a quarter of a consumer's CPU a record in a backlog,
    # and it no longer waits for the batch before it. Batches are still handled one at a
    # time and in order (runtime.py, `_Group.in_flight`). False: fetched only after.
    consumer_decode_ahead: bool = Field(
        True, description="decode the next batch while the one before it is in the database"
    )
    # A consumer holding records it cannot get through (a batch retried, records it does not
    # fetch) turns /readyz red and `hospital_consumer_stalled` to 1 after this long.
    consumer_stall_after_s: float = Field(
        60.0,
        gt=0,
        description="records waiting with no batch committed this long: the consumer is stalled",
    )
    # What a dead letter keeps of a record too big to dead-letter whole (dead_letters.py).
    dead_letter_prefix_bytes: int = Field(
        4096,
        ge=0,
        le=65536,
        description="bytes of the value kept when a record is dead-lettered as a reference",
    )
    # The inbox's retention (inbox_retention.py): every this often, the inbox rows of events
    # Kafka can no longer deliver again (by the topics' settings, read from Kafka) are deleted,
    # with this many days' margin beyond that, and never before the least days (the same
    # event written to Kafka again: dead letters replayed after a fix, an outbox batch
    # published again after a crash). 0: never.
    inbox_purge_interval_s: float = Field(
        3600.0, ge=0, description="how often inbox rows past Kafka's redelivery go (0: never)"
    )
    inbox_keep_extra_days: float = Field(
        1.0,
        gt=0,
        le=3650,
        description="days an inbox row is kept beyond the time Kafka could deliver its event again",
    )
    inbox_keep_min_days: float = Field(
        30.0, ge=0, le=3650, description="the least days an inbox row is kept, whatever Kafka keeps"
    )
    # Access records (access_records.py): how long they are kept, and the unusual-access rule
    # (unusual_access.py) the watch job applies every `access_watch_interval_s`.
    access_records_retention_days: int = Field(
        3 * 365 + 1,
        ge=1,
        validation_alias=AliasChoices("ACCESS_RECORDS_RETENTION_DAYS"),
        description="days an access record (who read which patient's data) is kept (3 years"
        " with a 29 February)",
    )
    access_unusual_patients: int = Field(
        20,
        ge=1,
        validation_alias=AliasChoices("ACCESS_UNUSUAL_PATIENTS"),
        description="distinct patients outside their department or worklist a staff member may"
        " read within the window before it is unusual access (an alert)",
    )
    access_unusual_window_s: float = Field(
        3600.0,
        gt=0,
        validation_alias=AliasChoices("ACCESS_UNUSUAL_WINDOW_S"),
        description="the window (seconds) of the unusual-access rule",
    )
    access_watch_interval_s: float = Field(
        60.0,
        gt=0,
        validation_alias=AliasChoices("ACCESS_WATCH_INTERVAL_S"),
        description="how often the unusual-access rule runs and expired access records go",
    )
    # Encryption at rest of phones and free text (field_crypto.py): the key-encryption key,
    # earlier ones still read after a rotation, and the key of the search hashes.
    data_encryption_key: str = _shared(
        "DATA_ENCRYPTION_KEY",
        DEV_ENCRYPTION_KEY,
        "the current key-encryption key, '<key id>:<32 bytes base64>' (development default is"
        " public and refused in production)",
    )
    data_encryption_previous_keys: str = _shared(
        "DATA_ENCRYPTION_PREVIOUS_KEYS",
        "",
        "earlier keys ('<id>:<base64>', comma-separated), still read after a rotation until the"
        " re-wrap job has moved every value to the current key",
    )
    data_hash_key: str = _shared(
        "DATA_HASH_KEY", DEV_HASH_KEY, "the key of the HMAC-SHA256 search hashes (phone numbers)"
    )
    data_encryption_enabled: bool = _shared(
        "DATA_ENCRYPTION_ENABLED",
        True,
        "false writes new sensitive values unencrypted (values already sealed still open): only"
        " to measure the cost on the bench; refused outside a development or test stack",
    )
    data_reseal_interval_s: float = Field(
        300.0,
        gt=0,
        validation_alias=AliasChoices("DATA_RESEAL_INTERVAL_S"),
        description="how often the re-seal job looks for values not under the current data key"
        " (plaintext from before encryption, or an earlier key); at once again while it finds"
        " a full batch",
    )
    data_reseal_batch_size: int = Field(
        500, ge=1, le=10000, validation_alias=AliasChoices("DATA_RESEAL_BATCH_SIZE"),
        description="rows the re-seal job moves per transaction",
    )  # fmt: skip
    db_pool_min: int = 1
    db_pool_max: int = 5

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> ServiceSettings:
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and"
                " KAFKA_SASL_PASSWORD"
            )
        bad_algorithms = sorted(set(self.oidc_algorithms) - ASYMMETRIC_ALGORITHMS)
        if bad_algorithms:
            raise ValueError(
                f"OIDC_ALGORITHMS: {bad_algorithms} not accepted; only signatures with the"
                f" provider's public keys: {sorted(ASYMMETRIC_ALGORITHMS)}"
            )
        if bool(self.kafka_ssl_certfile) != bool(self.kafka_ssl_keyfile):
            raise ValueError("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together")
        tls_files = {
            "KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
        }
        given = [name for name, value in tls_files.items() if value]
        if given and protocol in ("PLAINTEXT", "SASL_PLAINTEXT"):
            raise ValueError(
                f"{', '.join(given)} set, but KAFKA_SECURITY_PROTOCOL={protocol} does not use"
                " TLS (SSL or SASL_SSL)"
            )
        return self

    def model_post_init(self, __context: Any) -> None:
        if not self.http_port:
            self.http_port = self.default_http_port
        if not self.consumer_group:
            self.consumer_group = self.service_name

    @property
    def development_stack(self) -> bool:
        """ENV names a development or test stack (see DEVELOPMENT_ENVS)."""
        return is_development_env(self.env)

    @property
    def db_schema(self) -> str:
        return self.service_name


def service_settings_class(name: str, port: int) -> type[ServiceSettings]:
    """A settings class for service `name`, reading `NAME_*` variables."""

    class _Settings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix=f"{name.upper()}_", extra="ignore")
        service_name: ClassVar[str] = name
        default_http_port: ClassVar[int] = port

    _Settings.__name__ = f"{name.capitalize()}Settings"
    return _Settings
