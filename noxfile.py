"""Maintainer sessions. `nox` runs lint, typecheck and tests; `nox -s bench` and `nox -s e2e`
run on demand. Sessions reuse the venv scripts/bootstrap.sh prepares (no per-session venvs: the
machine has no network beyond the package registries, and the suite must stay fast)."""

from __future__ import annotations

import os
from pathlib import Path
from xml.etree import ElementTree

import nox
from tabulate import tabulate

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "none"
nox.options.error_on_external_run = False

ROOT = Path(__file__).parent


def dockerfiles() -> list[str]:
    return sorted(
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("Dockerfile*")
        if ".venv" not in p.parts and ".nox" not in p.parts and p.is_file()
    )


def workflows() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github" / "workflows").glob("*.yml"))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, ruff format --check, hadolint on every Dockerfile, actionlint + zizmor on workflows."""
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py", "tasks.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "noxfile.py", "tasks.py")
    session.run("hadolint", *dockerfiles())
    flows = workflows()
    if flows:
        session.run("actionlint", *flows)
        session.run("zizmor", "--offline", "--min-severity", "low", *flows)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src."""
    session.run("mypy", "--strict", "src")


REPORTS = ROOT / "reports"


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, integration (real engine, registry, nginx, moto server) and e2e (CLI) tests, with
    coverage (terminal total, reports/coverage.xml) and a JUnit report (reports/junit.xml);
    under GitHub Actions the job summary gets the counts and the coverage total."""
    REPORTS.mkdir(exist_ok=True)
    for stale in REPORTS.glob(".coverage*"):
        stale.unlink()
    try:
        session.run(
            "pytest",
            "-n",
            # three workers on two cores: many tests wait on containers, nginx and HTTP polls,
            # and a third worker fills that idle time (CI's two cores were a third idle)
            os.environ.get("SHIPYARD_TEST_WORKERS", "3"),
            "--dist",
            "loadgroup",
            "--cov",
            "--cov-report=term:skip-covered",
            f"--cov-report=xml:{REPORTS / 'coverage.xml'}",
            f"--junitxml={REPORTS / 'junit.xml'}",
            *session.posargs,
        )
    finally:
        summary = test_summary(REPORTS / "junit.xml", REPORTS / "coverage.xml")
        session.log(summary.splitlines()[-1] if summary else "no test report was written")
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary and os.environ.get("GITHUB_ACTIONS") == "true" and step_summary:
            with Path(step_summary).open("a", encoding="utf-8") as fh:
                fh.write(summary + "\n")


def test_summary(junit: Path, coverage: Path) -> str:
    """A markdown table of the JUnit counts and the coverage total, for the job summary."""
    if not junit.is_file():
        return ""
    suites = ElementTree.parse(junit).getroot()
    totals = {key: 0 for key in ("tests", "failures", "errors", "skipped")}
    for suite in suites.iter("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    passed = totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"]
    rate = ElementTree.parse(coverage).getroot().get("line-rate") if coverage.is_file() else None
    covered = f"{float(rate) * 100:.1f} %" if rate is not None else "not measured"
    row = [passed, totals["failures"], totals["errors"], totals["skipped"], covered]
    headers = ["passed", "failed", "errors", "skipped", "coverage"]
    return "### tests\n\n" + tabulate([row], headers=headers, tablefmt="github")


LOCK_FLAGS = (
    "--quiet",
    "--generate-hashes",
    "--allow-unsafe",  # setuptools: shipyard itself is built with the locked one
    "--all-build-deps",
    "--strip-extras",
    "--no-emit-index-url",  # a machine's own index settings stay out of the lock
    "--no-emit-find-links",
)


@nox.session
def lock(session: nox.Session) -> None:
    """Pin every dependency with its hashes: requirements/runtime.lock (what a deploy job
    installs) and requirements/dev.lock (runtime plus the dev tools); bootstrap installs them
    with --require-hashes."""
    for name, extra in (("runtime", ()), ("dev", ("--extra", "dev"))):
        session.run(
            "pip-compile",
            *LOCK_FLAGS,
            *extra,
            "--output-file",
            f"requirements/{name}.lock",
            "pyproject.toml",
        )


@nox.session
def e2e(session: nox.Session) -> None:
    """Only the end-to-end tests: the CLI as a subprocess, as a user types it."""
    session.run("pytest", "tests/e2e", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (not in default runs): each runs the commands as typed, as subprocesses, in
    alternating rounds; prints one table (median, min-max, ratio, verdict on the median) and
    writes it to reports/bench.json (and the GitHub Actions job summary).
    `nox -s bench -- startup ecs_deploy` runs only the named modules."""
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Regenerate docs/configuration.md (from the config models' field descriptions) and
    docs/tasks.md (from the Invoke namespace); `nox -s docs -- --check` only reports stale
    files. tests/unit/test_docs_generated.py fails while either is stale."""
    session.run("python", "tools/gendocs.py", *session.posargs)


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing of the safety rules (issue 13; not in default runs): mutmut over the
    modules pyproject's [tool.mutmut] names, with the fast test layers only (no containers);
    a table per module (mutants, killed, survived, timeout) and every surviving mutant with
    its line. Takes tens of minutes. Arguments go to tools/mutants.py: --keep reuses the last
    run, --survivors runs its survivors again, --report prints the last figures."""
    session.run("python", "tools/mutants.py", *session.posargs)
