"""Maintainer sessions. `nox` runs lint, typecheck and tests; `nox -s bench` and `nox -s e2e`
run on demand. Sessions reuse the venv scripts/bootstrap.sh prepares (no per-session venvs: the
machine has no network beyond the package registries, and the suite must stay fast)."""

from __future__ import annotations

from pathlib import Path

import nox

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


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, integration (real engine, registry, nginx, moto server) and e2e (CLI) tests."""
    session.run("pytest", "-n", "2", "--dist", "loadgroup", *session.posargs)


@nox.session
def e2e(session: nox.Session) -> None:
    """Only the end-to-end tests: the CLI as a subprocess, as a user types it."""
    session.run("pytest", "tests/e2e", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks with targets from the issues; prints measured figures (not in default runs)."""
    session.run("python", "-m", "benchmarks", *session.posargs)
