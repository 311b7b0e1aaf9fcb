"""Running mutmut for tools/mutants.py: the snapshot of the checkout it runs in, the clean
test pass whose failing tests are deselected (with the two small pytest plugins that do it),
keeping verdicts when tests were only added (--keep), and `mutmut run` itself with its
string operator narrowed (LAUNCH)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

from mutants_config import BASE, LOG, ROOT, WORK, config, modules

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
