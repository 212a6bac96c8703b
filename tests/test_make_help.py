"""`make help` lists every target with what it does: the targets carried `## ` comments, but
nothing showed them (`make help`: "No rule to make target")."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_help_lists_every_target_with_what_it_does() -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = dict(re.findall(r"^([a-z][a-z-]*):[^=\n]*?(?:## (.*))?$", makefile, re.M))
    shown = subprocess.run(
        ["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    listed = dict(re.findall(r"^  make (\S+) +(.*)$", shown, re.M))
    assert listed == targets
    assert all(listed.values()), "a target without a `## ` comment"
    assert shown.splitlines()[0].startswith("  make help")  # also what a bare `make` shows
