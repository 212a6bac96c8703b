import json

import pytest

from hospital_shared import staff_ids
from hospital_shared.auth import DEV_TOKENS, DevelopmentTokenInProduction, Role, load_tokens
from hospital_shared.settings import service_settings_class


def test_shared_settings_are_unprefixed_and_service_settings_prefixed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings_class = service_settings_class("followup", 8002)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("FOLLOWUP_KAFKA_BOOTSTRAP_SERVERS", "wrong:1")
    monkeypatch.setenv("FOLLOWUP_HTTP_PORT", "9002")
    monkeypatch.setenv("COMPLAINTS_HTTP_PORT", "9003")
    settings = settings_class()
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.http_port == 9002
    assert settings.consumer_group == "followup"
    assert service_settings_class("complaints", 8003)().http_port == 9003


def test_development_tokens_work_outside_production() -> None:
    tokens = load_tokens(None, env="development")
    assert tokens["dev-supervisor-token"].role is Role.SUPERVISOR
    assert tokens["dev-supervisor-token"].staff_id == "S-SUP-01"


@pytest.mark.parametrize("env", ["development", "Development", "DEV", "test", " Test "])
def test_development_tokens_exist_where_env_says_development_or_test(env: str) -> None:
    assert set(load_tokens(None, env=env)) == set(DEV_TOKENS)


@pytest.mark.parametrize(
    "env", ["production", "PRODUCTION", "Production", "prod", "staging", "", None, "devel"]
)
def test_any_other_env_is_production_and_refuses_development_tokens(env: str | None) -> None:
    # Fail closed: a misspelt or forgotten ENV must not open the public admin token.
    with pytest.raises(DevelopmentTokenInProduction):
        load_tokens(None, env=env)
    with pytest.raises(DevelopmentTokenInProduction):
        load_tokens('{"dev-admin-token": {"role": "admin"}}', env=env)


def test_an_unset_env_is_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENV", raising=False)
    settings = service_settings_class("followup", 8002)()
    assert not settings.development_stack
    with pytest.raises(DevelopmentTokenInProduction):
        load_tokens(settings.auth_tokens, env=settings.env)


@pytest.mark.parametrize("env", ["PRODUCTION", "Production", "prod", None])
def test_no_development_staff_is_seeded_in_production(
    monkeypatch: pytest.MonkeyPatch, env: str | None
) -> None:
    from complaints.settings import Settings as ComplaintsSettings
    from followup.settings import Settings as FollowupSettings

    if env is None:
        monkeypatch.delenv("ENV", raising=False)
    else:
        monkeypatch.setenv("ENV", env)
    assert FollowupSettings().staff_to_seed() == []
    assert ComplaintsSettings().staff_to_seed() == []
    monkeypatch.setenv("ENV", "Development")
    assert FollowupSettings().staff_to_seed() and ComplaintsSettings().staff_to_seed()


@pytest.mark.parametrize("bad", ["S/1", "S AGENT 01", "..", "张三", "S-AGENT-01\u200b"])
def test_a_seeded_staff_id_that_a_save_would_refuse_stops_the_settings_load(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    from pydantic import ValidationError

    from complaints.settings import Settings as ComplaintsSettings
    from followup.settings import Settings as FollowupSettings

    follow = [{"staff_id": bad, "name": "x", "department_code": "CS", "role": "agent",
               "capacity": 1}]  # fmt: skip
    monkeypatch.setenv("FOLLOWUP_SEED_STAFF", json.dumps(follow))
    monkeypatch.setenv("COMPLAINTS_SEED_STAFF", json.dumps(follow[:1]))
    for settings, setting in ((FollowupSettings, "FOLLOWUP_SEED_STAFF"),
                              (ComplaintsSettings, "COMPLAINTS_SEED_STAFF")):  # fmt: skip
        with pytest.raises(ValidationError) as refused:
            settings()
        assert f"{setting}: {bad!r} is not a staff id" in str(refused.value)


def test_a_seeded_full_width_staff_id_is_seeded_as_a_save_would_save_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from complaints.settings import DEV_STAFF
    from complaints.settings import Settings as ComplaintsSettings
    from followup.settings import DEFAULT_SEED_STAFF
    from followup.settings import Settings as FollowupSettings

    wide = [{"staff_id": " Ｓ－ＡＧＥＮＴ－０１", "name": "x", "department_code": "CS",
             "role": "agent"}]  # fmt: skip
    monkeypatch.setenv("FOLLOWUP_SEED_STAFF", json.dumps(wide))
    monkeypatch.setenv("COMPLAINTS_SEED_STAFF", json.dumps(wide))
    assert FollowupSettings().staff_to_seed()[0]["staff_id"] == "S-AGENT-01"
    assert ComplaintsSettings().staff_to_seed()[0].staff_id == "S-AGENT-01"
    defaults = [*(m["staff_id"] for m in DEFAULT_SEED_STAFF), *(m.staff_id for m in DEV_STAFF)]
    assert [staff_ids.staff_id(s) for s in defaults] == defaults  # the defaults hold too


def test_production_refuses_development_tokens() -> None:
    with pytest.raises(DevelopmentTokenInProduction):
        load_tokens(None, env="production")
    leaked = '{"dev-admin-token": {"role": "admin"}, "s3cret-long-token": {"role": "agent"}}'
    with pytest.raises(DevelopmentTokenInProduction):
        load_tokens(leaked, env="production")
    ok = load_tokens('{"s3cret-long-token": {"role": "agent", "staff_id": "S9"}}', env="production")
    assert set(ok) == {"s3cret-long-token"} and not set(ok) & set(DEV_TOKENS)


def test_every_seeded_supervisor_has_a_development_token_in_the_stack_env() -> None:
    # A supervisor sees only their own department's cases: the simulator's staff mode works
    # every case of a local stack only with a token for each supervisor on the seed roster.
    from devstack import StackConfig
    from followup.settings import DEFAULT_SEED_STAFF
    from hospital_shared.auth import DEV_TOKEN_ENV_NAMES

    seeded = {(s["staff_id"], s["department_code"]) for s in DEFAULT_SEED_STAFF
              if s["role"] == "supervisor"}  # fmt: skip
    tokens = {(p.staff_id, p.department) for p in DEV_TOKENS.values() if p.role == Role.SUPERVISOR}
    assert seeded == tokens
    env = StackConfig.for_tests().env()
    assert {env[DEV_TOKEN_ENV_NAMES[t]] for t in DEV_TOKENS} == set(DEV_TOKENS)  # none hidden
    assert env["TOKEN_WARD_SUPERVISOR"] == "dev-ward-supervisor-token"
