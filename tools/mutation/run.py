"""`make mutate`: mutation testing of the pure rules with cosmic-ray, module by module.

Why a copy: cosmic-ray mutates the file on disk and runs the tests against it. Doing that in
the checkout would break any test run (or editor) in it for the minutes a module takes, and a
killed run would leave a mutant behind. So the tracked files are copied to
`.mutation/tree-<module>` (one copy per module, so that two runs of different modules can go
on side by side), and the tests run there with the copy's packages first on `PYTHONPATH`
(ahead of the workspace's editable installs).

Why these tests: each module lists the unit tests that pin its rules (`modules.toml`); the
stack tests are not run (a mutant must be killed by a rule's test, not by an end-to-end run).
A mutant costs one pytest start, so the command stops at the first failure (`-x`, enough to
call it killed) and loads none of the plugins the unit tests do not use: schemathesis alone
(imported by its pytest plugin, with hypothesis) took 1.4 of the 2.1 s a start took.

Mutations inside type annotations are skipped: every module has
`from __future__ import annotations`, so an annotation is never evaluated and such a mutant
cannot change behaviour. Other equivalent mutants are listed in `modules.toml` with the
reason, matched by operator and source line, and counted apart.

The score is killed / (mutants - skipped - equivalent). `docs/mutation.md` gets the last
result of every module (a run of some modules keeps the others' rows).

    uv run python tools/mutation/run.py                      # every module
    uv run python tools/mutation/run.py complaints/policy    # modules whose path has this
    uv run python tools/mutation/run.py --survivors segments # only what the last run left alive
    uv run python tools/mutation/run.py --resume segments    # go on with an interrupted run
"""

from __future__ import annotations

import ast
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / ".mutation"
RESULTS_JSON = Path(__file__).with_name("results.json")
REPORT = REPO / "docs" / "mutation.md"
PACKAGE_DIRS = ["shared", "tools/devstack", "tools/simulator"] + [
    f"services/{s}" for s in ("registration", "followup", "complaints", "notifications", "metrics")
]


@dataclass
class Module:
    path: str
    tests: list[str]
    equivalent: list[dict[str, str]] = field(default_factory=list)


def load_modules() -> list[Module]:
    data = tomllib.loads(Path(__file__).with_name("modules.toml").read_text())
    return [Module(m["path"], m["tests"], m.get("equivalent", [])) for m in data["module"]]


def tree_of(module: Module) -> Path:
    return WORK / ("tree-" + _slug(module))


def _slug(module: Module) -> str:
    return module.path.replace("/", "_").removesuffix(".py")


def copy_tree(tree: Path) -> None:
    """The checkout's tracked and new files (as they are now, edits included) into `tree`."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    shutil.rmtree(tree, ignore_errors=True)
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() and not name.startswith("docs/"):
            target = tree / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def annotation_lines(path: Path) -> set[tuple[int, int, int, int]]:
    """Source spans of every annotation in `path` (never evaluated: postponed annotations)."""
    spans: set[tuple[int, int, int, int]] = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        found: list[ast.expr | None] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            every = args.posonlyargs + args.args + args.kwonlyargs
            found += [a.annotation for a in every] + [node.returns]
            found += [a.annotation for a in (args.vararg, args.kwarg) if a is not None]
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        for ann in filter(None, found):
            assert ann.end_lineno is not None and ann.end_col_offset is not None
            spans.add((ann.lineno, ann.col_offset, ann.end_lineno, ann.end_col_offset))
    return spans


def _inside(pos: tuple[int, int], span: tuple[int, int, int, int]) -> bool:
    return (span[0], span[1]) <= tuple(pos) <= (span[2], span[3])


def skip_annotations(session: Path, module: Path) -> None:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    spans = annotation_lines(module)
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in db.pending_work_items:
            if all(any(_inside(m.start_pos, s) for s in spans) for m in item.mutations):
                skipped = WorkResult(WorkerOutcome.SKIPPED, output="type annotation")
                db.set_result(item.job_id, skipped)


def write_config(module: Module, config: Path) -> None:
    tests = " ".join(module.tests)
    command = (
        f"{sys.executable} -m pytest -x -q -m 'not stack' -p no:cacheprovider "
        f"-p no:hypothesispytest -p no:anyio -p no:schemathesis {tests}"
    )
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{module.path}"\n'
        "timeout = 60.0\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(command)}\n"
        '[cosmic-ray.distributor]\nname = "local"\n'
    )


def run_module(
    module: Module, previous: dict[str, object] | None = None, *, resume: bool = False
) -> dict[str, object]:
    """Every mutant of `module`; with `previous` (`--survivors`), only those it left alive;
    with `resume`, the mutants an interrupted run of the same source has not run yet (the
    tree is copied again: the interruption may have left a mutant in it)."""
    tree, session = tree_of(module), session_of(module)
    copy_tree(tree)
    config, began = session.with_suffix(".toml"), session.with_suffix(".started")
    write_config(module, config)
    resuming = resume and session.exists() and began.exists()
    if resuming and began.read_text().split()[1] != source_digest(module):
        raise SystemExit(f"{module.path} changed since its interrupted run: run all its mutants")
    if not resuming:
        session.unlink(missing_ok=True)
        began.write_text(f"{time.time()} {source_digest(module)}\n")
    env = os.environ | {"PYTHONPATH": os.pathsep.join(str(tree / d) for d in PACKAGE_DIRS)}
    env.pop("DEVSTACK_TEST_PORT_OFFSET", None)
    carried = 0
    steps = [["exec"]] if resuming else [["init"], ["exec"]]
    for step in steps:
        subprocess.run([str(Path(sys.executable).parent / "cosmic-ray"), *step, str(config), str(session)], cwd=tree, env=env, check=True)  # fmt: skip
        if step[0] == "init":
            skip_annotations(session, tree / module.path)
            carried = carry_killed(session, previous) if previous else 0
    took = round(time.time() - float(began.read_text().split()[0]))
    result = summarise(module, session) | {"took": f"{took // 60} min {took % 60} s"}
    result["source_sha256"] = began.read_text().split()[1]  # the source the run mutated
    if previous:
        since = previous.get("killed_before", previous["run_at"])
        result["killed_before"] = since
        ran, total = str(result["run"]).split(" of ")
        result["run"] = f"{int(ran) - carried} of {total} (the {carried} others: killed {since})"
    return result


def _complete(result: dict[str, object]) -> bool:
    """Whether a result covers every mutant ("N of N" run; the others are not known killed)."""
    ran, total = str(result["run"]).split(" of ")
    return ran == total.split(" ")[0] or "others: killed" in total


def source_digest(module: Module) -> str:
    return hashlib.sha256((REPO / module.path).read_bytes()).hexdigest()


def unchanged_since(module: Module, previous: dict[str, object]) -> bool:
    """Whether `module`'s source is the one `previous` mutated: by its recorded digest, or
    (results from before the digest was kept) unchanged since results.json was last committed."""
    if "source_sha256" in previous:
        return previous["source_sha256"] == source_digest(module)
    git = ["git", "-C", str(REPO)]
    last = subprocess.run(
        [*git, "log", "-1", "--format=%H", "--", str(RESULTS_JSON)], capture_output=True, text=True
    ).stdout.strip()
    return (
        bool(last)
        and subprocess.run([*git, "diff", "--quiet", last, "--", module.path]).returncode == 0
    )


def carry_killed(session: Path, previous: dict[str, object]) -> int:
    """`--survivors`: the mutants the previous run of an unchanged source killed are recorded
    killed without running them again (new tests cannot bring a killed mutant back); those it
    left alive or found equivalent (matched by operator and line) run again."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    alive: list[dict[str, object]] = previous["survivors"] + previous["equivalent"]  # type: ignore[operator]
    again = {(str(s["operator"]), int(s["line"])) for s in alive}  # type: ignore[call-overload]
    since = previous.get("killed_before", previous["run_at"])
    carried = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in db.pending_work_items:
            mutation = item.mutations[0]
            if (mutation.operator_name, mutation.start_pos[0]) not in again:
                killed = WorkResult(
                    WorkerOutcome.NORMAL, output=f"killed in the run of {since}",
                    test_outcome=TestOutcome.KILLED,
                )  # fmt: skip
                db.set_result(item.job_id, killed)
                carried += 1
    return carried


def _line(module: Module, pos: tuple[int, int]) -> str:
    return (tree_of(module) / module.path).read_text().splitlines()[pos[0] - 1].strip()


def _equivalent_reason(module: Module, operator: str, line: str, diff: list[str]) -> str | None:
    """The reason of the first `equivalent` entry matching this mutant: its operator, its
    source line and, when the entry has `to`, the mutated line."""
    mutated = " ".join(d for d in diff if d.startswith("+"))
    for eq in module.equivalent:
        if eq["operator"] in operator and eq["line"] in line and eq.get("to", "") in mutated:
            return eq["reason"]
    return None


def summarise(module: Module, session: Path) -> dict[str, object]:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    killed = skipped = 0
    survivors: list[dict[str, object]] = []
    equivalent: list[dict[str, object]] = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        total, completed = db.num_work_items, db.completed_work_items
        for item, result in completed:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                skipped += 1
                continue
            if result.test_outcome != TestOutcome.SURVIVED:
                killed += 1
                continue
            mutation = item.mutations[0]
            line = _line(module, mutation.start_pos)
            entry = {
                "line": mutation.start_pos[0], "operator": mutation.operator_name,
                "source": line, "diff": _diff_lines(result.diff or ""),
            }  # fmt: skip
            reason = _equivalent_reason(module, mutation.operator_name, line, entry["diff"])  # type: ignore[arg-type]
            if reason:
                equivalent.append(entry | {"reason": reason})
            else:
                survivors.append(entry)
    counted = killed + len(survivors)
    return {
        "module": module.path, "killed": killed, "survived": len(survivors),
        "equivalent": equivalent, "skipped_annotations": skipped, "survivors": survivors,
        "score": round(100 * killed / counted, 1) if counted else 100.0,
        "run": f"{len(completed)} of {total}",
        "run_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }  # fmt: skip


def _diff_lines(diff: str) -> list[str]:
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def render(results: dict[str, dict[str, object]]) -> str:
    out = [
        "# Mutation testing of the pure rules",
        "",
        "Written by `make mutate` (`tools/mutation/run.py`, cosmic-ray; which tests pin each "
        "module and the equivalent mutants are in `tools/mutation/modules.toml`). Score: "
        "killed / (mutants - equivalent); mutations inside type annotations are not run "
        "(postponed annotations are never evaluated). Target: 90% on every module. "
        "`mutants run`: how many ran in the module's last run (a `--survivors` run names the "
        "earlier run that killed the others); `took`: that run's wall-clock time (empty: "
        "not measured, a run before the column).",
        "",
        "| module | score | killed | survived | equivalent | mutants run | took | when |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results.values():
        out.append(
            f"| `{r['module']}` | {r['score']}% | {r['killed']} | {r['survived']} "
            f"| {len(r['equivalent'])} | {r.get('run', 'all')} | {r.get('took', '')} "  # type: ignore[arg-type]
            f"| {r['run_at']} |"
        )
    for m in load_modules():
        if m.path not in results:
            out.append(f"| `{m.path}` | not run yet | | | | | | |")
    for r in results.values():
        out += _module_section(r)
    return "\n".join(out) + "\n"


def _module_section(r: dict[str, object]) -> list[str]:
    out: list[str] = []
    survivors: list[dict[str, object]] = r["survivors"]  # type: ignore[assignment]
    equivalent: list[dict[str, object]] = r["equivalent"]  # type: ignore[assignment]
    if not survivors and not equivalent:
        return out
    out += ["", f"## `{r['module']}`", ""]
    for s in survivors:
        out.append(f"- survived, line {s['line']} ({s['operator']}): `{s['source']}`")
        out += [f"  - `{d}`" for d in s["diff"]]  # type: ignore[attr-defined]
    for e in equivalent:
        out.append(f"- equivalent, line {e['line']} ({e['operator']}): {e['reason']}")
    return out


def selected(filters: list[str]) -> list[Module]:
    """The modules whose path contains one of `filters`, in the order of the filters (all, in
    the file's order, without any)."""
    every = load_modules()
    if not filters:
        return every
    chosen = [m for f in filters for m in every if f in m.path]
    modules = list(dict.fromkeys(m.path for m in chosen))
    if not modules:
        raise SystemExit(f"no module in modules.toml matches {filters}")
    return [next(m for m in every if m.path == p) for p in modules]


def session_of(module: Module) -> Path:
    return WORK / (_slug(module) + ".sqlite")


def save(new: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """Adds `new` to the saved results, read again under a lock: another run (of other modules)
    may have saved its own since this one started."""
    with (WORK / "results.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
        order = {m.path: i for i, m in enumerate(load_modules())}
        results = dict(sorted((results | new).items(), key=lambda r: order.get(r[0], len(order))))
        RESULTS_JSON.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
        REPORT.write_text(render(results))
    return results


def main(args: list[str]) -> None:
    """`--report`: summarise the sessions in .mutation/ again (an interrupted one too, as
    "N of M" mutants run) without mutating anything."""
    report_only = "--report" in args
    survivors_only, resume = "--survivors" in args, "--resume" in args
    modules = selected([a for a in args if a not in ("--report", "--survivors", "--resume")])
    WORK.mkdir(exist_ok=True)
    for module in modules:
        if report_only:
            if session_of(module).exists():
                old = save({}).get(module.path, {})
                again = summarise(module, session_of(module))
                if "killed_before" in old or old.get("run") == again["run"]:
                    # the same run classified again: keep what it ran and when
                    again["run"], again["run_at"] = old["run"], old["run_at"]
                save({module.path: old | again})
            continue
        print(f"mutating {module.path} (tests: {' '.join(module.tests)})", flush=True)
        previous = save({}).get(module.path) if survivors_only else None
        if previous and not unchanged_since(module, previous):
            raise SystemExit(f"{module.path} changed since its last run: run all its mutants")
        if previous and not _complete(previous):
            raise SystemExit(f"{module.path}'s last run was interrupted: --resume it first")
        r = run_module(module, previous, resume=resume)
        print(f"  {r['score']}% killed, {r['survived']} survived, took {r['took']}", flush=True)
        save({module.path: r})
    results = save({})
    for r in results.values():
        print(f"{r['module']}: {r['score']}% ({r['survived']} survived, {r.get('run')} run)")


if __name__ == "__main__":
    main(sys.argv[1:])
