"""Mutation testing of the safety rules (nox -s mutants; issue 13).

mutmut 3 (pyproject.toml [tool.mutmut]) mutates the safety-critical modules one change at a
time and runs, for each mutant, only the fast tests (unit, Stubber, moto: no Docker containers)
that call the mutated function; a mutant the tests do not notice "survives". This script:

1. copies the checkout (without .git, .venv and caches) into .nox/mutants/work, so the run
   measures one snapshot while the checkout goes on changing, and leaves no mutants/ directory
   in the checkout;
2. runs `mutmut run` there (its progress goes to .nox/mutants/mutmut.log);
3. prints one table per module: mutants, killed, survived, no tests (no fast test calls the
   mutated function: a survivor too), timeout, kill rate; then every survivor with
   file:line and the mutation (the line before and after);
4. writes the figures to reports/mutants.json.

    python tools/mutants.py                  # a fresh run of every module
    python tools/mutants.py --keep           # reuse the last run's results (only what changed,
                                             # and new tests, are run again)
    python tools/mutants.py --keep 'shipyard.history.*'   # run these mutants again
    python tools/mutants.py --survivors      # run the last run's survivors again
    python tools/mutants.py --report         # print the last run's figures, run nothing
    python tools/mutants.py --named [ITEM..] # issue 13's behaviours, each as one mutation
                                             # against the test named for it (minutes)

The kill rate counts timeouts as killed (the mutant made a test hang, which the test layer
reports as a failure) and "no tests" as survived. What is not mutated: string literals holding
whitespace (words for people: messages, hints, table and plan lines; see LAUNCH), and the lines
pyproject's do_not_mutate_patterns name (progress lines, dry-run plan steps).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / ".nox" / "mutants"
WORK = BASE / "work"
LOG = BASE / "mutmut.log"
REPORT = ROOT / "reports" / "mutants.json"
# what the snapshot leaves out: not source, or rebuilt by the run itself
SKIP = {
    ".git",
    ".venv",
    ".nox",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    ".shipyard",
    "reports",
    "mutants",
    "__pycache__",
}
STATUS = {  # mutmut's exit codes (mutmut.stats.status_by_exit_code), as counted here
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    36: "timeout",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    34: "skipped",
    37: "killed",  # caught by the type checker (not configured here)
}


@dataclass(frozen=True)
class Mutant:
    name: str  # mutmut's name: shipyard.history.xǁHistoryStateǁrollback_target__mutmut_3
    path: str  # src/shipyard/history.py
    status: str
    line: int | None = None
    before: str = ""
    after: str = ""


@dataclass(frozen=True)
class Named:
    """One behaviour of issue 13 as the single-line mutation that breaks it, and the test that
    must notice (`--named` applies each to a copy of src/ and runs that test alone)."""

    item: str
    behaviour: str
    path: str
    before: str
    after: str
    test: str


ROLLOUT = "tests/integration/test_ecs_rollout.py"
BLUEGREEN = "tests/integration/test_ecs_rollout_bluegreen.py"
MOTO = "tests/integration/test_ecs_moto.py"
REDACTION = "tests/unit/test_redaction.py"
NAMED = (
    Named(
        "1",
        "ECS: a COMPLETED deployment that is not PRIMARY is reported as success",
        "src/shipyard/targets/ecs_watch.py",
        'if dep.get("status") != "PRIMARY":',
        "if False:",
        f"{ROLLOUT}::test_a_deployment_superseded_by_another_teams_is_never_rolled_back[COMPLETED]",
    ),
    Named(
        "2",
        "ECS: a deployment superseded by another one is reported as success",
        "src/shipyard/targets/ecs_watch.py",
        "            return self._superseded(m, primary)",
        '            return Watched("completed", m.service.name, "", m.new)',
        f"{ROLLOUT}::test_a_deployment_superseded_by_another_teams_is_never_rolled_back"
        "[IN_PROGRESS]",
    ),
    Named(
        "3",
        "ECS: the rollback's own rollout fails and that failure is ignored",
        "src/shipyard/targets/ecs.py",
        '            self.fail(watched, "returning to what served: ")',
        "            pass",
        f"{ROLLOUT}::test_a_rollback_whose_own_rollout_fails_is_reported_not_ignored",
    ),
    Named(
        "4",
        "CodeDeploy: undo after a failed verify does not stop the deployment",
        "src/shipyard/targets/ecs_bluegreen.py",
        '        if info.get("status") in ACTIVE_STATUSES:',
        "        if False:",
        f"{BLUEGREEN}::test_verify_failure_once_traffic_moved_stops_the_deployment_with_rollback",
    ),
    Named(
        "5",
        "CodeDeploy: the branch for a failure after traffic moved (Baking) is disabled",
        "src/shipyard/targets/ecs_bluegreen.py",
        'if moved and (status == "Baking" or shown.get("AfterAllowTraffic") == "Succeeded"):',
        "if False:",
        f"{BLUEGREEN}::test_verify_failure_once_traffic_moved_stops_the_deployment_with_rollback",
    ),
    Named(
        "6",
        "ECS: inv rollback with no argument picks a newer revision",
        "src/shipyard/targets/ecs_records.py",
        "revision_of(arn) < revision_of(current)",
        "revision_of(arn) != revision_of(current)",
        "tests/integration/test_ecs_rollback_choice.py"
        "::test_rollback_never_goes_forward_to_a_newer_good_revision_nobody_left",
    ),
    Named(
        "7",
        "ECS: inv rollback --to VERSION accepts a revision whose rollout failed",
        "src/shipyard/targets/ecs_records.py",
        "            if good and tags.get(VERSION) == to:",
        "            if tags.get(VERSION) == to:",
        f"{MOTO}::test_rollback_to_a_version_never_returns_to_a_failed_rollout_of_it",
    ),
    Named(
        "8",
        "local cleanup ignores the live and rollback-target images",
        "src/shipyard/operations/cleanup.py",
        '        kept[live.release_id] = (live.release_id, live.version, "live")',
        "        pass",
        "tests/integration/test_local_cleanup_selection.py"
        "::test_cleanup_keeps_the_live_and_the_rollback_target_images",
    ),
    Named(
        "8",
        "local cleanup ignores the rollback-target image",
        "src/shipyard/operations/cleanup.py",
        "    rollback = state.rollback_target()",
        "    rollback = None",
        "tests/integration/test_local_cleanup_selection.py"
        "::test_cleanup_keeps_the_live_and_the_rollback_target_images",
    ),
    Named(
        "9",
        "ECR cleanup ignores digests that running tasks actually run",
        "src/shipyard/operations/ecr_cleanup.py",
        "        images.extend(_running_task_images(ecs, cluster, name, env))",
        "        pass",
        "tests/integration/test_ecr_cleanup_deployed.py"
        "::test_a_digest_running_tasks_run_is_kept_though_no_tag_names_it_any_more",
    ),
    Named(
        "10",
        "ECR cleanup ignores the platform images of a kept multi-arch index",
        "src/shipyard/operations/ecr_cleanup.py",
        "    return decide(protected=protected)",
        "    return decide()",
        "tests/integration/test_ecr_cleanup_deployed.py"
        "::test_the_platform_images_of_a_kept_index_stay_and_those_of_a_deleted_one_go",
    ),
    Named(
        "11",
        "Console.progress output is not redacted",
        "src/shipyard/console.py",
        "    print(inert(redact(text)), file=stream, flush=True)",
        "    print(inert(text), file=stream, flush=True)",
        f"{REDACTION}::test_no_form_of_a_secret_reaches_any_output[progress-value]",
    ),
    Named(
        "12",
        "Console.warn output is not redacted",
        "src/shipyard/console.py",
        "        text = redact(text)",
        "        text = text",
        f"{REDACTION}::test_no_form_of_a_secret_reaches_any_output[warn-value]",
    ),
    Named(
        "13",
        "verify ignores `contains`: a release serving the wrong /version passes",
        "src/shipyard/operations/verify.py",
        "    if want is not None and want not in answer.body:",
        "    if False:",
        f"{ROLLOUT}::test_verify_failure_after_the_shift_rolls_back_and_watches_the_way_back"
        "[wrong version]",
    ),
    Named(
        "14",
        "promote: production's way back after a failed verify does not return it",
        "src/shipyard/targets/ecs.py",
        "        updated = self.ecs.update_service(self.cfg.cluster, name, m.previous)",
        "        updated = self.ecs.update_service(self.cfg.cluster, name, m.new)",
        "tests/integration/test_promote_real_targets.py",
    ),
    Named(
        "14",
        "local: a rollback failing after the proxy switch is not switched back",
        "src/shipyard/targets/local.py",
        "        self.proxy.switch(upstream)\n        if upstream is None:",
        "        if upstream is None:",
        "tests/integration/test_local_rollback_faults.py"
        "::test_a_rollback_failing_after_the_proxy_switch_is_switched_back",
    ),
    Named(
        "14",
        "local: reconcile leaves a run killed between switch and record routed to it",
        "src/shipyard/targets/local_truth.py",
        "                self.t.proxy.switch(self.bring_back(previous))",
        "                self.bring_back(previous)",
        "tests/integration/test_local_rollback_faults.py"
        "::test_a_rollback_killed_between_the_switch_and_its_record_is_routed_back",
    ),
    Named(
        "history",
        "a history write that is not atomic (written in place, torn by a kill)",
        "src/shipyard/fsutil.py",
        '    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")',
        "    fd, tmp = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), str(path)",
        "tests/unit/test_local_history.py"
        "::test_kill_9_between_writing_and_renaming_leaves_one_whole_history",
    ),
    Named(
        "history",
        "rollback choice forgets what a later rollback moved away from",
        "src/shipyard/history.py",
        "                    abandoned.add(replaced.digest)",
        "                    pass",
        "tests/unit/test_local_history.py"
        "::test_rollback_target_is_the_newest_release_the_rule_allows",
    ),
)


def named(only: list[str]) -> int:
    """Apply each NAMED mutation to a copy of src/ and run its test alone: every one must be
    killed (the test fails). Prints a table; returns 1 when one survives."""
    import tempfile

    rows: list[list[str]] = []
    survived = 0
    for n in NAMED:
        if only and n.item not in only:
            continue
        with tempfile.TemporaryDirectory(prefix="shipyard-named-") as tmp:
            copy = Path(tmp) / "src"
            shutil.copytree(ROOT / "src", copy, ignore=shutil.ignore_patterns("__pycache__"))
            target = copy / Path(n.path).relative_to("src")
            text = target.read_text()
            if text.count(n.before) != 1:
                rows.append([n.item, n.behaviour, "NOT APPLIED: the line changed", n.test])
                survived += 1
                continue
            target.write_text(text.replace(n.before, n.after))
            env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", n.test],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        verdict = {0: "SURVIVED", 1: "killed"}.get(proc.returncode, f"error {proc.returncode}")
        survived += verdict != "killed"
        rows.append([n.item, n.behaviour, verdict, n.test.rsplit("::", 1)[-1]])
    print(tabulate(rows, headers=["item", "behaviour", "mutant", "test"], tablefmt="github"))
    return 1 if survived else 0


def config() -> dict[str, Any]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    cfg: dict[str, Any] = data["tool"]["mutmut"]
    return cfg


def modules(cfg: dict[str, Any]) -> list[str]:
    """The mutated files, in the order pyproject lists them."""
    found: list[str] = []
    for pattern in cfg.get("only_mutate", []):
        for path in sorted(ROOT.glob(pattern)):
            rel = str(path.relative_to(ROOT))
            if rel.endswith(".py") and rel not in found:
                found.append(rel)
    return found


def snapshot(keep: bool) -> None:
    """Copy the checkout into WORK (over the last copy with --keep, which keeps mutmut's
    results in WORK/mutants; otherwise from scratch)."""
    if not keep and BASE.exists():
        shutil.rmtree(BASE)
    WORK.mkdir(parents=True, exist_ok=True)
    for entry in ROOT.iterdir():
        if entry.name in SKIP:
            continue
        dest = WORK / entry.name
        if entry.is_dir():
            shutil.copytree(
                entry,
                dest,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns(*SKIP, "*.pyc"),
                symlinks=True,
            )
        else:
            shutil.copy2(entry, dest)
    if keep:
        # mutmut copies sources into mutants/ only when missing: refresh what changed
        for src in (WORK / "src").rglob("*.py"):
            copied = WORK / "mutants" / src.relative_to(WORK)
            if copied.exists() and str(src.relative_to(WORK)) not in modules(config()):
                shutil.copy2(src, copied)


# a pytest plugin for the clean pass: the ids of the tests that failed, one a line
FAILED_PLUGIN = """
import os

failed = []


def pytest_runtest_logreport(report):
    if report.failed and report.nodeid not in failed:
        failed.append(report.nodeid)


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller got every report and writes the list
    with open(os.environ["MUTANTS_FAILED"], "w") as fh:
        fh.write("".join(f"{n}\\n" for n in failed))
"""


def clean_pass(cfg: dict[str, Any], jobs: int) -> list[str]:
    """Run the selected tests once on the unmutated snapshot; a failing test (another change
    under way in the checkout) would stop mutmut's first pass, so it is deselected in mutmut's
    runs (DESELECT_PLUGIN), and reported. Returns the deselected test ids."""
    (BASE / "mutants_failed_plugin.py").write_text(FAILED_PLUGIN)
    listed = BASE / "clean-failed.txt"
    listed.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(WORK / "src"), str(BASE)])
    env["MUTANTS_FAILED"] = str(listed)
    selection = list(cfg.get("pytest_add_cli_args_test_selection", []))
    args = [*selection, *cfg.get("pytest_add_cli_args", []), "-q", "-p", "mutants_failed_plugin"]
    if jobs > 1:
        args += ["-n", str(jobs)]
    with LOG.open("w") as log:
        subprocess.run(
            [sys.executable, "-m", "pytest", *args],
            cwd=WORK,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if not listed.is_file():
        raise SystemExit(f"the clean test pass did not finish; see {LOG}")
    failed = [line for line in listed.read_text().splitlines() if line]
    DESELECT.write_text("".join(f"{t}\n" for t in failed))
    return failed


# a pytest plugin for mutmut's runs: deselects the tests the clean pass found failing (given
# through PYTEST_ADDOPTS, so mutmut's own config, and with it its cached verdicts, stays put)
DESELECT_PLUGIN = """
import os


def pytest_collection_modifyitems(config, items):
    with open(os.environ["MUTANTS_DESELECT"]) as fh:
        failing = {line.strip() for line in fh if line.strip()}
    keep = [i for i in items if i.nodeid not in failing]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i.nodeid in failing])
        items[:] = keep
"""
DESELECT = BASE / "deselect.txt"
SELECTION = BASE / "selection.json"  # the test selection of the last run


def _fingerprint(values: list[str]) -> str:
    """mutmut's hash of a config list (Config.config_fingerprint)."""
    import hashlib

    return hashlib.sha256(repr(tuple(values)).encode()).hexdigest()[:12]


def carry_verdicts(cfg: dict[str, Any]) -> None:
    """With --keep: tests ADDED to the selection since the last run cannot revive a killed
    mutant, so its verdicts stay (mutmut would drop them all); the new tests get their stats
    and --survivors runs the survivors again with them. Any other change: mutmut starts over."""
    stats = WORK / "mutants" / "mutmut-stats.json"
    if not (stats.is_file() and SELECTION.is_file()):
        return
    before: list[str] = json.loads(SELECTION.read_text())
    now: list[str] = list(cfg.get("pytest_add_cli_args_test_selection", []))
    data = json.loads(stats.read_text())
    stored = data.get("config_fingerprint", {})
    if now == before or stored.get("test_selection") != _fingerprint(before):
        return
    options = [a for a in now if a.startswith("-") or not a.endswith(".py")]
    if set(before) <= set(now) and options == [
        a for a in before if a.startswith("-") or not a.endswith(".py")
    ]:
        stored["test_selection"] = _fingerprint(now)
        stats.write_text(json.dumps(data))
        added = [a for a in now if a not in before]
        print(f"{len(added)} test file(s) added since the last run: verdicts kept")
    else:
        print("the test selection changed (not only additions): every mutant is run again")


# mutmut, with its string operator narrowed: a string literal holding whitespace is words
# for people (an error message, a hint, a plan or table line), not a rule, and is left as it is;
# mutmut leaves f-strings alone already, so every message is treated alike. Literals without
# whitespace (states, keys, tags, outcomes: "PRIMARY", "succeeded", "shipyard:outcome") are
# mutated as mutmut does.
LAUNCH = """
import sys

import libcst as cst
from mutmut.mutation import mutators

words_too = mutators.operator_string


def operator_string(node):
    if isinstance(node, cst.SimpleString):
        try:
            value = node.evaluated_value
        except Exception:
            value = ""
        if isinstance(value, str) and any(ch.isspace() for ch in value):
            return
    yield from words_too(node)


mutators.mutation_operators[:] = [
    (kind, operator_string if op is words_too else op) for kind, op in mutators.mutation_operators
]
from mutmut.__main__ import cli

sys.argv[0] = "mutmut"
cli()
"""


def run_mutmut(names: list[str], jobs: int) -> int:
    """`mutmut run` in WORK (see LAUNCH); its spinner and pytest output go to LOG."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "PYTEST_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    (BASE / "mutants_deselect_plugin.py").write_text(DESELECT_PLUGIN)
    # the tests' own subprocesses (`inv ...`) import the snapshot's unmutated src/, never the
    # checkout's that the editable install points at (it may be changing meanwhile); mutated
    # code runs only in mutmut's own processes (its trampolines need mutmut's state)
    env["PYTHONPATH"] = os.pathsep.join([str(WORK / "src"), str(BASE)])
    env["PYTEST_ADDOPTS"] = "-p mutants_deselect_plugin"
    env["MUTANTS_DESELECT"] = str(DESELECT)
    with LOG.open("a") as log:
        proc = subprocess.run(
            [sys.executable, "-c", LAUNCH, "run", "--max-children", str(jobs), *names],
            cwd=WORK,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return proc.returncode


def results(cfg: dict[str, Any]) -> list[Mutant]:
    """Every mutant of every module with its status, survivors with line and mutation."""
    found: list[Mutant] = []
    for path in modules(cfg):
        meta = WORK / "mutants" / f"{path}.meta"
        if not meta.is_file():
            continue
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in sorted(codes.items(), key=lambda kv: _order(kv[0])):
            status = "not checked" if code is None else STATUS.get(code, "suspicious")
            if status in ("survived", "no tests", "suspicious"):
                found.append(_located(name, path, status))
            else:
                found.append(Mutant(name, path, status))
    return found


def _order(name: str) -> tuple[str, int]:
    head, _, number = name.rpartition("__mutmut_")
    return head, int(number) if number.isdigit() else 0


def _located(name: str, path: str, status: str) -> Mutant:
    """The mutation as the original line and the mutated one, and the line's number."""
    previous = Path.cwd()
    os.chdir(WORK)
    try:
        from mutmut.mutation.diff_apply import get_diff_for_mutant

        diff = get_diff_for_mutant(name, path=path)
    except Exception as exc:  # a mutant whose diff cannot be read is still listed
        return Mutant(name, path, status, None, f"(diff unavailable: {exc})")
    finally:
        os.chdir(previous)
    removed = [
        ln[1:] for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")
    ]
    added = [ln[1:] for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    hunk = re.search(r"^@@ -(\d+)", diff, re.MULTILINE)
    line = _line_of(name, path, removed[0] if removed else "", int(hunk.group(1)) if hunk else 1)
    before, after = _changed(removed, added)
    return Mutant(name, path, status, line, before, after)


def _changed(removed: list[str], added: list[str]) -> tuple[str, str]:
    """The first line the mutation changes, before and after (a removed argument may leave
    no line after), each cut to a readable length."""
    pairs = list(zip(removed, added, strict=False))
    differing = next(((r, a) for r, a in pairs if r.strip() != a.strip()), None)
    if differing is None:
        differing = (removed[len(pairs)] if len(removed) > len(pairs) else "", "")
    return tuple(_cut(x.strip()) for x in differing)  # type: ignore[return-value]


def _cut(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _line_of(name: str, path: str, removed: str, hunk_start: int) -> int | None:
    """The line in the original file that the mutation changes."""
    func, cls = _function_of(name)
    source = (ROOT / path).read_text() if (ROOT / path).is_file() else ""
    work_source = WORK / path
    if work_source.is_file():
        source = work_source.read_text()  # the snapshot mutmut mutated
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.name != func:
            continue
        if cls is not None and not _in_class(source, node, cls):
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        # the diff's text, searched from where the hunk says, within the function
        want = removed.strip()
        around = range(first, (node.end_lineno or first) + 1)
        guess = first + hunk_start - 1
        candidates = [n for n in around if lines[n - 1].strip() == want]
        if candidates:
            return min(candidates, key=lambda n: abs(n - guess))
        return guess
    return None


def _function_of(name: str) -> tuple[str, str | None]:
    mangled = name.partition("__mutmut_")[0].rpartition(".")[-1]
    if "ǁ" in mangled:
        _, cls, func = mangled.split("ǁ")
        return func, cls
    return mangled.removeprefix("x_"), None


def _in_class(source: str, func: ast.AST, cls: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return any(
                isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                and child.lineno == getattr(func, "lineno", -1)
                for child in node.body
            )
    return False


def table(found: list[Mutant], cfg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rows: list[list[Any]] = []
    figures: dict[str, Any] = {}
    total: Counter[str] = Counter()
    for path in modules(cfg):
        counts = Counter(m.status for m in found if m.path == path)
        if not counts:
            continue
        total.update(counts)
        rows.append(_row(path.removeprefix("src/shipyard/"), counts))
        figures[path] = dict(counts)
    rows.append(_row("all", total))
    headers = [
        "module",
        "mutants",
        "killed",
        "survived",
        "no tests",
        "timeout",
        "not run",
        "kill rate",
    ]
    return tabulate(rows, headers=headers, tablefmt="github"), figures


def _row(name: str, counts: Counter[str]) -> list[Any]:
    n = sum(counts.values())
    detected = counts["killed"] + counts["timeout"]
    checked = n - counts["not checked"]
    rate = f"{100 * detected / checked:.1f} %" if checked else "-"
    undetected = counts["survived"] + counts["suspicious"]
    return [
        name,
        n,
        counts["killed"],
        undetected,
        counts["no tests"],
        counts["timeout"],
        counts["not checked"],
        rate,
    ]


def survivors(found: list[Mutant]) -> str:
    out: list[str] = []
    for m in found:
        if m.status in ("killed", "timeout", "skipped", "not checked"):
            continue
        where = f"{m.path}:{m.line}" if m.line else m.path
        out.append(f"{where}  [{m.status}]  {m.name.rpartition('.')[-1]}")
        out.append(f"    - {m.before}")
        out.append(f"    + {m.after}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutant names or globs to run again")
    parser.add_argument("--keep", action="store_true", help="reuse the last run's results")
    parser.add_argument("--report", action="store_true", help="only print the last figures")
    parser.add_argument(
        "--survivors", action="store_true", help="run the last run's survivors again (--keep)"
    )
    parser.add_argument(
        "--named",
        nargs="*",
        metavar="ITEM",
        help="only the issue-13 behaviours as named mutations, each against its test",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="mutants at once")
    args = parser.parse_args(argv)
    if args.named is not None:
        return named(args.named)
    cfg = config()
    started = time.monotonic()
    code = 0
    names = list(args.names)
    if args.survivors:
        names += [m.name for m in results(cfg) if m.status not in ("killed", "timeout", "skipped")]
        if not names:
            print("no survivors to run again")
            return 0
    deselected: list[str] = []
    if not args.report:
        snapshot(keep=args.keep or bool(names))
        if args.keep or names:
            carry_verdicts(cfg)
        deselected = clean_pass(cfg, args.jobs)
        for test in deselected:
            print(f"deselected, failing before any mutation: {test}")
        code = run_mutmut(names, args.jobs)
        SELECTION.write_text(json.dumps(cfg.get("pytest_add_cli_args_test_selection", [])))
    wall = time.monotonic() - started
    found = results(cfg)
    if not found:
        print(f"no results: mutmut exited {code}; see {LOG}", file=sys.stderr)
        print(LOG.read_text()[-3000:] if LOG.is_file() else "", file=sys.stderr)
        return code or 1
    text, figures = table(found, cfg)
    if code:
        print(f"mutmut exited {code}: the figures are incomplete (see {LOG})")
    print(text)
    print()
    listed = survivors(found)
    print(listed or "no survivors")
    print()
    if not args.report:
        print(f"wall time {wall / 60:.1f} min ({args.jobs} at once); mutmut log: {LOG}")
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {
                "modules": figures,
                "wall_seconds": None if args.report else round(wall),
                "deselected": deselected,
                "survivors": [
                    m.__dict__ for m in found if m.status not in ("killed", "timeout", "skipped")
                ],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
