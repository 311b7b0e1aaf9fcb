"""The small rules the safety modules lean on, each pinned (found by `nox -s mutants`: no fast
test called them): who a release is recorded as, release ids, where the project root is,
and the Dockerfile lint of `inv scan --local` (the real hadolint binary)."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest

from shipyard.config import load_config
from shipyard.config.loader import find_root
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import ConfigError, ScanFailed, UsageError
from shipyard.history import current_actor, new_release_id
from shipyard.operations import scan
from shipyard.operations.scan import ScanOptions
from tests.conftest import REPO


# -- history ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"GITHUB_ACTOR": "octocat", "USER": "root", "LOGNAME": "x"}, "octocat"),
        ({"USER": "alice", "LOGNAME": "x"}, "alice"),
        ({"LOGNAME": "bob"}, "bob"),
        ({"GITHUB_ACTOR": "", "USER": "", "LOGNAME": "carol"}, "carol"),
    ],
)
def test_the_actor_is_the_ci_actor_then_the_user(environ: dict[str, str], expected: str) -> None:
    assert current_actor(environ) == expected


def test_without_any_name_the_actor_is_the_login_of_the_process() -> None:
    import getpass

    try:
        login = getpass.getuser()
    except Exception:
        login = "unknown"
    assert current_actor({}) == (login or "unknown")


def test_release_ids_sort_by_time_and_are_valid_docker_names() -> None:
    first = new_release_id()
    assert re.fullmatch(r"r\d{14}[0-9a-f]{4}", first), first
    ids = {new_release_id() for _ in range(50)}
    assert len(ids) > 1  # random suffix: two in one second differ (almost always)
    assert all(i[:15] >= first[:15] for i in ids)


# -- the project root ---------------------------------------------------------------------------
def test_the_root_is_the_nearest_directory_holding_the_base_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHIPYARD_ROOT", raising=False)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "shipyard.toml").write_text("")
    deep = tmp_path / "app" / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_root(deep) == tmp_path.resolve()
    assert find_root(tmp_path) == tmp_path.resolve()
    monkeypatch.chdir(deep)
    assert find_root() == tmp_path.resolve()


def test_no_base_config_upwards_is_a_config_error_naming_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHIPYARD_ROOT", raising=False)
    with pytest.raises(ConfigError) as err:
        find_root(tmp_path)
    assert f"no deploy/shipyard.toml found in {tmp_path.resolve()}" in err.value.message
    assert "SHIPYARD_ROOT" in (err.value.hint or "")


def test_shipyard_root_wins_and_must_hold_the_base_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_ROOT", str(REPO))
    assert find_root(tmp_path) == REPO.resolve()
    monkeypatch.setenv("SHIPYARD_ROOT", str(tmp_path))
    with pytest.raises(ConfigError, match=f"SHIPYARD_ROOT={tmp_path} has no deploy/shipyard"):
        find_root(REPO)


# -- inv scan --local: hadolint on the Dockerfile -----------------------------------------------
def project(tmp_path: Path, dockerfile: str) -> Context:
    root = tmp_path / "proj"
    shutil.copytree(REPO / "deploy", root / "deploy")
    (root / "app").mkdir(parents=True)
    (root / "app" / "Dockerfile").write_text(dockerfile)
    (root / "version.txt").write_text("0.1.0\n")
    config = load_config("local", root=root, environ={})
    out = io.StringIO()
    return Context(config=config, root=root, console=Console(out, out), environ={})


def test_a_clean_dockerfile_passes_the_lint(tmp_path: Path) -> None:
    ctx = project(tmp_path, (REPO / "app" / "Dockerfile").read_text())
    result = scan.run(ctx, ScanOptions(local=True))
    assert (result.status, result.passed, result.lint) == ("LINTED", True, ())
    assert result.image == "app/Dockerfile"
    scan.gate(result)  # passes: no raise


def test_a_dockerfile_with_problems_fails_the_lint_naming_each(tmp_path: Path) -> None:
    ctx = project(tmp_path, "FROM busybox\nRUN cd /tmp && echo hi\n")
    result = scan.run(ctx, ScanOptions(local=True))
    assert not result.passed
    assert result.lint_exit != 0
    codes = {(f.line, f.code) for f in result.lint or ()}
    assert (1, "DL3006") in codes  # untagged base image
    assert (2, "DL3003") in codes  # cd instead of WORKDIR
    assert all(f.file == "app/Dockerfile" and f.level and f.message for f in result.lint or ())
    with pytest.raises(ScanFailed) as err:
        scan.gate(result)
    assert f"hadolint found {len(result.lint or ())} problem(s) in app/Dockerfile" == (
        err.value.message
    )
    assert ".hadolint.yaml" in (err.value.hint or "")


def test_no_dockerfile_is_a_usage_error(tmp_path: Path) -> None:
    ctx = project(tmp_path, "")
    (ctx.root / "app" / "Dockerfile").unlink()
    with pytest.raises(UsageError, match="no Dockerfile at"):
        scan.run(ctx, ScanOptions(local=True))


def test_the_lint_dry_run_names_the_hadolint_command(tmp_path: Path) -> None:
    ctx = project(tmp_path, "FROM busybox:1.36\n")
    result = scan.run(ctx, ScanOptions(local=True, dry_run=True))
    assert result.plan is not None
    (step,) = result.plan.steps
    # the command the lint runs: from the project root, findings as JSON
    assert step.command[1:] == ("--format", "json", "app/Dockerfile")
    assert Path(step.command[0]).name == "hadolint"


# -- a secret's identity --------------------------------------------------------------------------
def test_secrets_compare_by_value_never_with_plain_text() -> None:
    from shipyard.secrets import Secret

    one, same, other = (
        Secret("s3cret-value", "env:A"),
        Secret("s3cret-value", "file:b"),
        Secret("x"),
    )
    assert one == same  # one value, wherever it came from
    assert one != other
    assert one != "s3cret-value"  # a secret is never equal to its text: no accidental compare
    assert len({one, same, other}) == 2
    assert hash(one) == hash(same)
    assert bool(one) is True
    assert bool(Secret("")) is False  # an empty value is "not set"


# -- the re-entrant deploy lock (rollout/lock.py) -------------------------------------------------
def test_the_lock_is_held_only_inside_and_taken_once_however_deep(tmp_path: Path) -> None:
    from shipyard.locking import LockInfo
    from shipyard.rollout.lock import holding, is_held

    calls: list[str] = []

    class Lock:
        def acquire(self, message: str, *, wait: float = 0.0) -> LockInfo:
            calls.append(f"acquire {message} {wait}")
            return LockInfo(owner="me", since=0.0, message=message, took_over="pid 42 on h")

        def release(self) -> None:
            calls.append("release")

    out = io.StringIO()
    assert not is_held(tmp_path, "staging")
    with holding(Lock(), root=tmp_path, environment="staging", message="release", wait=3.0,
                 console=Console(out, out)):  # fmt: skip
        assert is_held(tmp_path, "staging")
        assert not is_held(tmp_path, "production")  # per environment
        assert not is_held(tmp_path / "other", "staging")  # per checkout
        with holding(Lock(), root=tmp_path, environment="staging", message="deploy"):
            assert is_held(tmp_path, "staging")
        assert is_held(tmp_path, "staging")  # the inner exit only counted down
    assert not is_held(tmp_path, "staging")
    assert calls == ["acquire release 3.0", "release"]
    assert "took over the deploy lock left by pid 42 on h (that process is gone)" in out.getvalue()
