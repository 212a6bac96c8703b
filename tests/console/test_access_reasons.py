"""Every request the console makes to a route that answers with a patient's data says why
(`reason=`, sent as `X-Access-Reason`), so the access record of a look through the console
says who and why (issue 24: "through any API or the console"). The calls are read from the
console's source: a new screen that reads a patient without a reason fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.access_routes import AUDITED

CONSOLE = Path(__file__).resolve().parents[2] / "services" / "console" / "console"
SERVICES = {service for service, _, _ in AUDITED}
METHODS = {"get": "GET", "post": "POST"}


def _path_template(node: ast.expr) -> str | None:
    """`"/v1/cases"` or `f"/v1/tasks/{task_id}/take"` as a route template with `{}` holes."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def backend_calls() -> list[tuple[str, int, str, str, str, bool]]:
    """(file, line, service, method, path, says why) of each `x.get/post/call(session, service,
    ...)` in the console."""
    found = []
    for source in sorted(CONSOLE.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            args, name = node.args, node.func.attr
            if len(args) < 3 or not isinstance(args[1], ast.Constant):
                continue
            if args[1].value not in SERVICES:
                continue
            if name in METHODS:
                method, path = METHODS[name], _path_template(args[2])
            elif name == "call" and len(args) >= 4 and isinstance(args[2], ast.Constant):
                method, path = str(args[2].value), _path_template(args[3])
            else:
                continue
            says = any(k.arg == "reason" for k in node.keywords)
            found.append((source.name, node.lineno, args[1].value, method, path or "?", says))
    return found


def audited(service: str, method: str, path: str) -> bool:
    for a_service, a_method, template in AUDITED:
        pattern = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template)) + "$"
        concrete = path.replace("{}", "X")
        if (a_service, a_method) == (service, method) and re.match(pattern, concrete):
            return True
    return False


def test_the_console_reads_patients_through_the_services() -> None:
    """The reader above finds the console's calls (else the next test would pass vacuously)."""
    calls = backend_calls()
    assert sum(audited(s, m, p) for _, _, s, m, p, _ in calls) >= 20


def test_every_console_request_for_a_patients_data_gives_a_reason() -> None:
    silent = [
        f"{file}:{line} {method} {service}{path}"
        for file, line, service, method, path, says in backend_calls()
        if audited(service, method, path) and not says
    ]
    assert silent == []
