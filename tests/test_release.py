"""One release for the platform, from one source (hospital_shared.release): every service's
OpenAPI and AsyncAPI documents (the console's too) carry it, the root pyproject.toml repeats
it, and CHANGELOG.md's newest entry names it, so a release cannot be cut half-way. No stack:
the apps are built, not started."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest

from hospital_shared.release import RELEASE

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ["registration", "followup", "complaints", "notifications", "metrics"]
_ENTRY = re.compile(r"^## \[?v?(\d+\.\d+\.\d+[^\]\s]*)\]?", re.MULTILINE)


def newest_release(changelog: str) -> str | None:
    """The version the first `## [x.y.z] - date` heading names (None without one)."""
    found = _ENTRY.search(changelog)
    return found.group(1) if found else None


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_documents_the_release(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "test")
    app = importlib.import_module(f"{service}.app").create_app()
    assert app.openapi()["info"]["version"] == RELEASE
    assert app.state.runtime.asyncapi.to_specification().to_jsonable()["info"]["version"] == RELEASE


def test_the_console_documents_the_release(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "test")
    app = importlib.import_module("console.app").create_app()
    assert app.openapi()["info"]["version"] == RELEASE


def test_the_root_project_and_the_changelog_name_the_release() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == RELEASE
    assert newest_release((ROOT / "CHANGELOG.md").read_text()) == RELEASE


def test_the_newest_changelog_entry_is_the_first_heading() -> None:
    """The top version heading is the newest (one added below an older one is not); an
    `Unreleased` heading names none."""
    text = "# Changelog\n\nintro\n\n## [1.3.0] - 2027-01-02\n- x\n\n## [1.4.0] - 2027-02-01\n"
    assert newest_release(text) == "1.3.0"
    assert newest_release("# Changelog\n\n## Unreleased\n") is None
