"""A real service process in production with a secret still at its public development value
does not start, and says which variable to set."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.capture_servers import free_port
from tests.integration.services import refused_start_log

OWN_TOKENS = {"Jx3-own-integration-token-0c81": {"role": "integration"}}


def test_production_refuses_to_start_with_the_development_callback_secret(
    stack_config: Any, stack_env: dict[str, str]
) -> None:
    """ENV=production and AUTH_TOKENS of its own, so the tokens let it start, but no
    NOTIFICATIONS_CALLBACK_SECRET: anyone holding the published `dev-callback-secret` could
    sign delivery receipts. The stack's database and gateway passwords are public too. Before
    the check the service started and ran (a free HTTP port, so that only the check stops it)."""
    extra = {
        "ENV": "production",
        "AUTH_TOKENS": json.dumps(OWN_TOKENS),
        "NOTIFICATIONS_HTTP_PORT": str(free_port()),
    }
    log = refused_start_log(stack_config, "notifications", extra, log_prefix="notifications-prod")
    (refusal,) = [line for line in log.splitlines() if "DevelopmentSecretInProduction:" in line]
    for variable in (
        "NOTIFICATIONS_CALLBACK_SECRET",
        "NOTIFICATIONS_KANNEL_PASSWORD",
        "NOTIFICATIONS_SURVEY_SECRET",  # opens every survey link
        "DATABASE_URL",
        "DATA_ENCRYPTION_KEY",  # the public development data keys (field_crypto.py)
        "DATA_HASH_KEY",
    ):
        assert variable in refusal
    assert "dev-callback-secret" not in log and "hospital-dev" not in log
