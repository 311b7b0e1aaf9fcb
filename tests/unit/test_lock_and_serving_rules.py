"""The rules every deploy lock shares (who holds it, which run it belongs to, what `held`
releases), which lock an environment gets, and how an observed `Serving` reads and compares.

These are the words `inv status` and `inv lock` print and the identity `inv lock --release`
decides by: a change to any of them misleads an operator about who holds an environment.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import LockHeld
from shipyard.locking import LockInfo, default_owner, get_lock, held, run_identity
from shipyard.locking.dynamodb import DynamoDbLock
from shipyard.locking.local import FileLock
from shipyard.rollout.model import NOTHING, Serving, serving_dict

REPO = Path(__file__).resolve().parents[2]
HOST = socket.gethostname()


# -- LockInfo -------------------------------------------------------------------------------


def test_a_lock_info_as_a_document_keeps_everything_but_the_token_and_the_taken_over() -> None:
    info = LockInfo(
        owner="alice@box:12",
        since=100.5,
        message="deploy 1.2.0",
        expires=700.5,
        host="box",
        pid=12,
        token="secret-token",
        took_over="bob@box:9",
        run="alice@box",
    )
    assert info.as_dict() == {
        "owner": "alice@box:12",
        "since": 100.5,
        "message": "deploy 1.2.0",
        "expires": 700.5,
        "host": "box",
        "pid": 12,
        "run": "alice@box",
    }


def test_a_lock_info_defaults_to_no_expiry_no_holder_process_and_nobody_s_run() -> None:
    info = LockInfo(owner="o", since=1.0, message="m")
    assert (info.expires, info.host, info.pid, info.token, info.took_over, info.run) == (
        None,
        "",
        None,
        "",
        "",
        "",
    )


# -- default_owner ----------------------------------------------------------------------------


def test_the_owner_is_the_given_actor_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    monkeypatch.setenv("USER", "alice")
    assert default_owner("carol") == f"carol@{HOST}:{os.getpid()}"


def test_the_owner_is_the_ci_actor_before_the_login_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    monkeypatch.setenv("USER", "alice")
    assert default_owner() == f"octocat@{HOST}:{os.getpid()}"
    assert default_owner("") == f"octocat@{HOST}:{os.getpid()}"


def test_the_owner_is_the_login_user_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTOR", raising=False)
    monkeypatch.setenv("USER", "alice")
    assert default_owner() == f"alice@{HOST}:{os.getpid()}"


def test_an_owner_nobody_names_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTOR", raising=False)
    monkeypatch.delenv("USER", raising=False)
    assert default_owner() == f"unknown@{HOST}:{os.getpid()}"


# -- run_identity -----------------------------------------------------------------------------


def test_a_ci_run_is_its_job_attempt() -> None:
    environ = {
        "GITHUB_RUN_ID": "77",
        "GITHUB_RUN_ATTEMPT": "3",
        "GITHUB_JOB": "deploy",
        "GITHUB_ACTOR": "octocat",
    }
    assert run_identity(environ) == "github run 77 attempt 3 job deploy"


def test_a_ci_run_without_attempt_or_job_is_the_first_attempt_of_no_job() -> None:
    assert run_identity({"GITHUB_RUN_ID": "77"}) == "github run 77 attempt 1 job "
    assert run_identity({"GITHUB_RUN_ID": "77", "GITHUB_RUN_ATTEMPT": ""}) == (
        "github run 77 attempt 1 job "
    )


def test_an_empty_run_id_is_not_a_ci_run() -> None:
    environ = {"GITHUB_RUN_ID": "", "GITHUB_ACTOR": "octocat", "USER": "alice"}
    assert run_identity(environ) == f"octocat@{HOST}"


def test_a_run_by_hand_is_its_user_on_this_host() -> None:
    assert run_identity({"USER": "alice"}) == f"alice@{HOST}"
    assert run_identity({"GITHUB_ACTOR": "", "USER": "alice"}) == f"alice@{HOST}"
    assert run_identity({}) == f"unknown@{HOST}"


def test_without_an_environment_the_process_s_own_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_RUN_ID", "5")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "2")
    monkeypatch.setenv("GITHUB_JOB", "ci")
    assert run_identity() == "github run 5 attempt 2 job ci"


# -- held -------------------------------------------------------------------------------------


def test_held_takes_the_lock_with_its_message_and_frees_it_after(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "deploy.lock", environment="dev", actor="alice", run="r1")
    with held(lock, "deploy 1.2.0") as info:
        assert info.message == "deploy 1.2.0"
        assert lock.status() == info
    assert lock.status() is None


def test_held_frees_the_lock_when_the_work_fails(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "deploy.lock", environment="dev", actor="alice", run="r1")
    with pytest.raises(RuntimeError, match="boom"), held(lock, "deploy"):
        raise RuntimeError("boom")
    assert lock.status() is None


def test_held_passes_its_wait_to_the_lock(tmp_path: Path) -> None:
    """With a wait, a lock another run holds is polled for at least that long before the
    refusal (the lower bound is exact: the lock never returns before its deadline)."""
    path = tmp_path / "deploy.lock"
    first = FileLock(path, environment="dev", actor="alice", run="r1")
    second = FileLock(path, environment="dev", actor="bob", run="r2")
    first.acquire("first")
    try:
        began = time.monotonic()
        with pytest.raises(LockHeld) as refused, held(second, "second", wait=0.4):
            pass
        waited = time.monotonic() - began
    finally:
        first.release()
    assert waited >= 0.4
    assert refused.value.message.endswith(": first")


# -- get_lock ---------------------------------------------------------------------------------


def _context(tmp_path: Path, environment: str, environ: dict[str, str]) -> Context:
    root = tmp_path / "proj"
    shutil.copytree(REPO / "deploy", root / "deploy")
    (root / "version.txt").write_text("1.2.0\n")
    overrides = {"lock.table": "team-locks", "lock.ttl_seconds": 321.0}
    config = load_config(environment, root=root, overrides=overrides, environ={})
    return Context(config=config, root=root, console=Console(quiet=True), environ=environ)


def test_a_local_environment_locks_a_file_in_its_state_directory(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "local", {"USER": "alice"})
    lock = get_lock(ctx)
    assert isinstance(lock, FileLock)
    assert lock.path == ctx.state_dir / "deploy.lock"
    assert lock.environment == "local"
    assert lock.run == f"alice@{HOST}"


def test_an_aws_environment_locks_its_configured_dynamodb_table(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "staging", {"GITHUB_RUN_ID": "9", "GITHUB_JOB": "release"})
    lock = get_lock(ctx)
    assert isinstance(lock, DynamoDbLock)
    assert lock.aws is ctx.aws
    assert (lock.table, lock.environment, lock.ttl_seconds) == ("team-locks", "staging", 321.0)
    assert lock.run == "github run 9 attempt 1 job release"


# -- Serving ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serving", "words"),
    [
        (Serving(False), "unknown"),
        (Serving(False, detail="describe failed"), "unknown (describe failed)"),
        (Serving(False, release_id="r1", version="1.0.0"), "unknown"),
        (Serving(True), "nothing"),
        (Serving(True, detail="nothing is live"), "nothing"),
        (Serving(True, release_id="r1"), "? (r1)"),
        (Serving(True, release_id="r1", version="1.2.0"), "1.2.0 (r1)"),
    ],
)
def test_what_serves_in_words(serving: Serving, words: str) -> None:
    assert serving.describe() == words


def test_nothing_is_known_to_serve_nothing() -> None:
    assert NOTHING.known is True
    assert NOTHING.release_id is None
    assert NOTHING.detail == "nothing is live"
    assert NOTHING.describe() == "nothing"


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        (Serving(True, "r1"), Serving(True, "r1", version="other words"), True),
        (Serving(True, "r1"), Serving(True, "r2"), False),
        (Serving(False, "r1"), Serving(True, "r1"), False),
        (Serving(True, "r1"), Serving(False, "r1"), False),
        (Serving(False), Serving(False), False),
        (Serving(True), Serving(True), True),
    ],
)
def test_the_same_release_only_when_both_are_known(
    one: Serving, other: Serving, same: bool
) -> None:
    assert one.same_release(other) is same


def test_what_serves_as_a_document() -> None:
    serving = Serving(
        True,
        release_id="arn:td:7",
        version="1.2.0",
        digest="sha256:ab",
        detail="2/2 running",
        continuing="ecs-svc/1",
        facts={"not": "shown"},
    )
    assert serving_dict(serving) == {
        "known": True,
        "release_id": "arn:td:7",
        "version": "1.2.0",
        "digest": "sha256:ab",
        "detail": "2/2 running",
        "continuing": "ecs-svc/1",
    }
    assert Serving(False).facts == {}
    assert (Serving(False).detail, Serving(False).continuing, Serving(False).digest) == (
        "",
        "",
        None,
    )
