"""`make test` runs `pytest` with the `testpaths` of pyproject.toml: a test file outside all of
them is never run, and nothing says so (until session 20, the 77 tests of thirteen top-level
files, among them the function-length gate and the HTTP contract's, had never run there)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _entries() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["pytest"]["ini_options"]["testpaths"])


def _testpaths() -> list[Path]:
    found: list[Path] = []
    for entry in _entries():
        found += sorted(ROOT.glob(entry)) if any(c in entry for c in "*?[") else [ROOT / entry]
    return found


def test_every_test_file_is_under_a_testpath() -> None:
    paths = _testpaths()
    files = sorted((ROOT / "tests").rglob("test_*.py"))
    assert len(files) > 100  # the search itself found the suite
    outside = [
        str(f.relative_to(ROOT)) for f in files if not any(f == p or p in f.parents for p in paths)
    ]
    assert outside == []


def test_every_testpath_exists() -> None:
    assert [str(p) for p in _testpaths() if not p.exists()] == []
    globs = [e for e in _entries() if "*" in e]
    assert [g for g in globs if not list(ROOT.glob(g))] == []  # a pattern that matches nothing
