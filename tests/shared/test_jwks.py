"""When the identity provider's keys are fetched (hospital_shared.jwks), on a clock the
test moves: a rotation's new key counts at once, made-up key ids cost little, a withdrawn key
stops counting within the cache's age."""

from __future__ import annotations

from typing import Any

import pytest

from hospital_shared.auth import Role
from hospital_shared.jwks import NOT_FOUND_REMEMBERED
from hospital_shared.jwt_auth import InvalidToken, OidcConfig, ProviderUnavailable, TokenVerifier
from hospital_shared.settings import service_settings_class
from tests.shared.oidc_tokens import (
    CONFIG,
    ISSUER,
    KEY,
    OTHER_KEY,
    FakeProvider,
    access_claims,
    default_verifier,
    jwks_of,
    signed,
)


async def _on_a_clock(
    config: OidcConfig = CONFIG,
) -> tuple[list[float], FakeProvider, TokenVerifier]:
    """A verifier on a clock the test moves (`now[0]`), that has fetched the keys once."""
    now = [1000.0]
    provider = FakeProvider(jwks_of(("k1", KEY)))
    verifier = TokenVerifier(config, provider.fetch, clock=lambda: now[0])
    await verifier.principal(signed(access_claims()))
    return now, provider, verifier


async def _refused(verifier: TokenVerifier, kid: str) -> None:
    with pytest.raises(InvalidToken):
        await verifier.principal(signed(access_claims(), kid=kid))


async def test_a_rotated_key_counts_at_once_although_a_made_up_key_id_was_just_tried() -> None:
    """The audit's case: one anonymous request with a made-up key id, then the provider
    rotates its keys; the first token signed with the new key, 2 s later, counts (it used to
    be refused for 30 s, the made-up id having closed the gate)."""
    now, provider, verifier = await _on_a_clock()
    now[0] += CONFIG.jwks_min_refresh_s + 1
    await _refused(verifier, "made-up")
    assert provider.calls == 2
    provider.jwks = jwks_of(("k2", OTHER_KEY))  # rotated: k1 withdrawn, k2 signs
    now[0] += 2
    principal = await verifier.principal(signed(access_claims(), key=OTHER_KEY, kid="k2"))
    assert principal.staff_id == "S-AGENT-01" and provider.calls == 3


async def test_made_up_key_ids_cost_at_most_one_fetch_a_second_together() -> None:
    now, provider, verifier = await _on_a_clock()
    # a burst of 200 random key ids at one instant: one fetch
    now[0] += 5
    for n in range(200):
        await _refused(verifier, f"burst-{n}")
    assert provider.calls == 2
    # eight a second for a minute (steps exact in binary): one fetch a second
    for n in range(8 * 60):
        now[0] += 0.125
        await _refused(verifier, f"spray-{n}")
    assert provider.calls == 2 + 60


async def test_a_key_id_not_found_fetches_nothing_more_until_the_refresh_interval_passed() -> None:
    now, provider, verifier = await _on_a_clock()
    now[0] += 5
    await _refused(verifier, "made-up")
    for _ in range(int(CONFIG.jwks_min_refresh_s / 2) - 1):
        now[0] += 2
        await _refused(verifier, "made-up")
    assert provider.calls == 2
    now[0] += 2
    await _refused(verifier, "made-up")
    assert provider.calls == 3


async def test_the_key_ids_not_found_held_in_memory_are_bounded() -> None:
    fast = OidcConfig(issuer=ISSUER, audience="hospital-api", jwks_url="x",
                      jwks_min_fetch_interval_s=0.001)  # fmt: skip
    now, _, verifier = await _on_a_clock(fast)
    for n in range(3 * NOT_FOUND_REMEMBERED):
        now[0] += 0.001
        await _refused(verifier, f"made-up-{n}")
    assert len(verifier.keys._not_found) == NOT_FOUND_REMEMBERED
    now[0] += fast.jwks_min_refresh_s
    await _refused(verifier, "one-more")
    assert len(verifier.keys._not_found) == 1  # what is older than the interval is forgotten


async def test_cached_keys_serve_while_the_provider_is_away_and_refresh_after_max_age() -> None:
    now, provider, verifier = await _on_a_clock()
    provider.down = True
    now[0] += CONFIG.jwks_max_age_s
    assert (await verifier.principal(signed(access_claims()))).role is Role.AGENT
    provider.down = False
    now[0] += CONFIG.jwks_min_refresh_s
    await verifier.principal(signed(access_claims()))
    assert provider.calls == 3


async def test_a_key_withdrawn_at_the_provider_is_refused_within_five_minutes() -> None:
    """Keycloak's key removed after a suspected compromise: with the default settings its
    tokens stop counting once the cached keys are 5 minutes old (an hour, before)."""
    config = OidcConfig.from_settings(
        service_settings_class("followup", 8002)(
            oidc_issuer_url=ISSUER, oidc_jwks_url="https://sso/jwks"
        )
    )
    assert config is not None
    now, provider, verifier = await _on_a_clock(config)
    provider.jwks = jwks_of(("k2", OTHER_KEY))
    now[0] += 299
    assert (await verifier.principal(signed(access_claims()))).role is Role.AGENT
    now[0] += 1
    await _refused(verifier, "k1")


async def test_a_fetch_that_failed_does_not_hold_back_a_new_key() -> None:
    """The provider away for a moment just as its keys rotate: the new key id was remembered
    as not found, and tokens signed with it refused for 30 s after the provider was back."""
    now, provider, verifier = await _on_a_clock()
    now[0] += 5
    provider.down = True
    with pytest.raises((InvalidToken, ProviderUnavailable)):
        await verifier.principal(signed(access_claims(), key=OTHER_KEY, kid="k2"))
    provider.down = False
    provider.jwks = jwks_of(("k2", OTHER_KEY))
    now[0] += 2
    principal = await verifier.principal(signed(access_claims(), key=OTHER_KEY, kid="k2"))
    assert principal.staff_id == "S-AGENT-01"


async def test_a_provider_never_reached_is_unavailable_not_a_bad_token() -> None:
    provider = FakeProvider(jwks_of(("k1", KEY)))
    provider.down = True
    with pytest.raises(ProviderUnavailable):
        await default_verifier(provider).principal(signed(access_claims()))


async def test_the_keys_are_found_through_the_discovery_document() -> None:
    served = {
        f"{ISSUER}/.well-known/openid-configuration": {"jwks_uri": "https://sso/certs"},
        "https://sso/certs": jwks_of(("k1", KEY)),
    }

    async def fetch(url: str) -> dict[str, Any]:
        return served[url]

    verifier = TokenVerifier(OidcConfig(issuer=ISSUER, audience="hospital-api"), fetch)
    assert (await verifier.principal(signed(access_claims()))).staff_id == "S-AGENT-01"
