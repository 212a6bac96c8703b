"""Secrets whose development value is public: refused outside a development or test stack.

The settings ship working defaults so that `make up` needs no configuration, and for secrets
those defaults are public: they are in this repository, its README and
`docs/configuration.md`. Anyone who knows `dev-callback-secret` can sign delivery receipts
for any message; anyone who knows `hospital-dev` can send SMS through the gateway. A service
whose `ENV` does not say development or test refuses to start while any of them is in use,
naming the variables (never their values), as `auth.load_tokens` refuses the development
tokens.

Which settings are secrets, found from the settings themselves so that a new one is covered
without a list to keep up:
- every field whose name ends in `_secret`, `_password`, `_token(s)` or `_key`, when it holds
  its default and that default is a non-empty string, or a value the local stack publishes
  (`PUBLISHED`: settings without a default that `tools/devstack` fills in);
- the password inside `DATABASE_URL` (in the URL or as `?password=`), when it is the
  default URL's.

`ServiceRuntime` calls `refuse_dev_defaults` for every service, right after its token check
(`auth.load_tokens`), which thus speaks first.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import AliasChoices

from hospital_shared.settings import ServiceSettings

SECRET_WORDS = frozenset({"secret", "password", "token", "tokens", "key"})

# Development values of secrets that have no default, as the local stack publishes them in
# its `.stack/env` and the README (tools/devstack/devstack/config.py), and the compose file:
# the console's client secret is the development realm's (tools/devstack/keycloak).
PUBLISHED: dict[str, frozenset[str]] = {
    "kafka_sasl_password": frozenset({"hospital-kafka-dev"}),
    "oidc_client_secret": frozenset({"dev-console-secret"}),
}


class DevelopmentSecretInProduction(RuntimeError):
    """Raised at start outside a development or test stack while a secret holds a public
    development value."""


def variable_of(settings_class: type[ServiceSettings], field: str) -> str:
    """The environment variable a field is read from (`KAFKA_SASL_PASSWORD`,
    `NOTIFICATIONS_CALLBACK_SECRET`)."""
    alias = settings_class.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    if isinstance(alias, str):
        return alias
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def _public_values(settings_class: type[ServiceSettings], field: str) -> frozenset[str]:
    default = settings_class.model_fields[field].default
    published = PUBLISHED.get(field, frozenset())
    return published | {default} if isinstance(default, str) and default else published


def _dsn_password(dsn: str | None) -> str | None:
    if not dsn:
        return None
    parts = urlsplit(dsn)
    if parts.password is not None:
        return unquote(parts.password)
    given = parse_qs(parts.query).get("password")
    return given[-1] if given else None


def public_secrets(settings: ServiceSettings) -> list[str]:
    """The variables of `settings` that hold a publicly known development value."""
    cls = type(settings)
    found = [
        variable_of(cls, field)
        for field in cls.model_fields
        if field.rsplit("_", 1)[-1] in SECRET_WORDS
        and getattr(settings, field) in _public_values(cls, field)
    ]
    default_password = _dsn_password(cls.model_fields["database_url"].default)
    if default_password and _dsn_password(settings.database_url) == default_password:
        found.append(variable_of(cls, "database_url"))
    return sorted(found)


def refuse_dev_defaults(settings: ServiceSettings, is_development: bool) -> None:
    """Stop a service's start outside development (`is_development`: its ENV says development
    or test, `settings.development_stack`) while a secret holds a public development value."""
    if is_development:
        return
    found = public_secrets(settings)
    if found:
        raise DevelopmentSecretInProduction(
            f"ENV={settings.env!r} is production, but {', '.join(found)} still"
            f" {'holds' if len(found) == 1 else 'hold'} the development value published with"
            " this project: set your own"
        )
