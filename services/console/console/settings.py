"""Settings of the console: shared variables plus `CONSOLE_*` ones.

The console owns one small table (its sessions); everything else it shows comes from the five
services' HTTP APIs, at the URLs below (the stack env's `<SERVICE>_URL`).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field

from console.oidc import SignInSettings
from console.session import SESSION_MAX_S
from hospital_shared.settings import service_settings_class

_Base = service_settings_class("console", 8006)


def _service_url(name: str, port: int) -> str:
    return Field(
        f"http://127.0.0.1:{port}",
        validation_alias=AliasChoices(f"{name.upper()}_URL"),
        description=f"base URL of the {name} service's HTTP API",
    )


class Settings(_Base, SignInSettings):  # type: ignore[misc, valid-type]
    registration_url: str = _service_url("registration", 8001)
    followup_url: str = _service_url("followup", 8002)
    complaints_url: str = _service_url("complaints", 8003)
    notifications_url: str = _service_url("notifications", 8004)
    metrics_url: str = _service_url("metrics", 8005)
    backend_timeout_s: float = Field(
        10.0, gt=0, description="how long the console waits for a service's answer"
    )
    session_cookie: str = Field("console_session", description="name of the session cookie")
    session_idle_s: float = Field(
        8 * 3600.0,
        gt=0,
        description="a session unused this long is over (signed in again); a shift is 8 h",
    )
    session_max_s: float = Field(
        SESSION_MAX_S,
        gt=0,
        description="a session this old is over however often it is used (signed in again);"
        " keep it at most the identity provider's SSO maximum (Keycloak: 10 h)",
    )
    cookie_secure: bool | None = Field(
        None,
        description="send the session cookie only over HTTPS; unset: on outside a development"
        " or test stack",
    )
    login_rate_per_minute: float = Field(
        30.0,
        gt=0,
        description="sign-ins one client address may begin a minute (/login, and the"
        " callback, each counted apart; a minute's worth at once): 429 past it; the address"
        " honours X-Forwarded-For only from uvicorn's FORWARDED_ALLOW_IPS",
    )
    default_language: str = Field("zh", description="zh | en: the language before a choice")
    hospital_name: str = Field(
        "市第一人民医院", description="the hospital, as call scripts name it"
    )

    @property
    def secure_cookie(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return not self.development_stack

    def service_urls(self) -> dict[str, str]:
        return {
            "registration": self.registration_url,
            "followup": self.followup_url,
            "complaints": self.complaints_url,
            "notifications": self.notifications_url,
            "metrics": self.metrics_url,
        }
