"""No production function longer than 60 lines (STYLE.md; issue 18): a long function hides
several steps that each deserve a name and a docstring. An AST walk over each service's
package, the shared library and devstack; a nested function counts on its own and within its
parent."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 60
CHECKED = [
    "services/registration/registration",
    "services/followup/followup",
    "services/complaints/complaints",
    "services/notifications/notifications",
    "services/metrics/metrics",
    "services/console/console",
    "shared/hospital_shared",
    "tools/devstack/devstack",
]


def long_functions(folder: Path, limit: int = LIMIT) -> list[str]:
    """`path:line name (n lines)` of every function in `folder` longer than `limit` lines,
    decorators and docstring included."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = (node.end_lineno or node.lineno) - start + 1
                if length > limit:
                    found.append(f"{path.relative_to(folder)}:{start} {node.name} ({length} lines)")
    return found


@pytest.mark.parametrize("folder", CHECKED)
def test_no_production_function_is_longer_than_60_lines(folder: str) -> None:
    assert long_functions(ROOT / folder) == []


def test_the_walk_finds_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (tmp_path / "long.py").write_text(f"def long():\n{body}\n\n\ndef short():\n    pass\n")
    assert long_functions(tmp_path, LIMIT) == ["long.py:1 long (61 lines)"]
