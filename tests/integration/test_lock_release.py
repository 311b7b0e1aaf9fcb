"""`inv lock --release` frees only the lock this run holds; `--force` frees anyone's and says
whose it was. "This run" is the GitHub Actions job attempt (GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT,
GITHUB_JOB) in CI, else the same user on the same host. Both backends: the lock file of a local
environment (a live holder in a child process) and the DynamoDB item of an AWS one (moto)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shipyard.locking import run_identity
from shipyard.locking.dynamodb import DynamoDbLock
from tests.conftest import MotoServer, Project

REGION = "ap-northeast-2"


def ci(run: str, attempt: str = "1", job: str = "deploy-staging") -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": run,
        "GITHUB_RUN_ATTEMPT": attempt,
        "GITHUB_JOB": job,
        "GITHUB_ACTOR": "ci-bot",
    }


def by_hand(user: str) -> dict[str, str]:
    return {"USER": user}


THIS_RUN = ci("4242", "2", "deploy-staging")
OTHER_RUNS = {
    "another run": ci("1111", "2", "deploy-staging"),
    "another attempt": ci("4242", "1", "deploy-staging"),
    "another job": ci("4242", "2", "deploy-production"),
    "an operator by hand": by_hand("alice"),
}

HOLD = """
import sys, time
from pathlib import Path
from shipyard.locking.local import FileLock
FileLock(Path(sys.argv[1]), environment="local").acquire("rollback to 0.0.9 by hand")
print("held", flush=True)
time.sleep(120)
"""


@contextmanager
def local_holder(project: Project, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A live process holding the local environment's lock as `env` identifies it."""
    path = project.path / ".shipyard" / "local" / "deploy.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        env={**project.env, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def lock_state(project: Project, env_name: str, extra: dict[str, str]) -> dict[str, object]:
    done = project.inv("lock", "--env", env_name, "--json", extra_env=extra, check=True)
    return dict(json.loads(done.stdout))


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in done.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stdout + done.stderr
    return lines[0]


# -- who "this run" is -------------------------------------------------------------------------
def test_this_run_is_the_ci_job_attempt_or_the_user_on_this_host() -> None:
    assert run_identity(THIS_RUN) == "github run 4242 attempt 2 job deploy-staging"
    for other in OTHER_RUNS.values():
        assert run_identity(other) != run_identity(THIS_RUN)
    host = socket.gethostname()
    assert run_identity(by_hand("alice")) == f"alice@{host}"
    assert run_identity(by_hand("alice")) != run_identity(by_hand("bob"))


# -- the local lock file -----------------------------------------------------------------------
@pytest.mark.parametrize("other", OTHER_RUNS.values(), ids=OTHER_RUNS.keys())
def test_local_lock_of_another_run_survives_release_and_force_frees_it(
    project: Project, other: dict[str, str]
) -> None:
    with local_holder(project, other) as holder:
        left = project.inv("lock", "--env", "local", "--release", extra_env=THIS_RUN)
        assert left.returncode == 0, left.stdout + left.stderr
        line = one_line(left)
        assert line.startswith("left the local lock of ")
        assert f":{holder.pid}" in line
        assert "not this run's" in line
        assert "--force" in line
        state = lock_state(project, "local", THIS_RUN)
        assert state["held"] is True
        assert state["holder"]["run"] == run_identity(other)  # type: ignore[index]

        forced = project.inv("lock", "--env", "local", "--release", "--force", extra_env=THIS_RUN)
        assert forced.returncode == 0, forced.stdout + forced.stderr
        line = one_line(forced)
        assert line.startswith("released the local lock held by ")
        assert f":{holder.pid}" in line
        assert "rollback to 0.0.9 by hand" in line
        assert lock_state(project, "local", THIS_RUN)["held"] is False


def test_local_lock_this_run_holds_is_freed(project: Project) -> None:
    with local_holder(project, THIS_RUN) as holder:
        freed = project.inv("lock", "--env", "local", "--release", extra_env=THIS_RUN)
        assert freed.returncode == 0, freed.stdout + freed.stderr
        assert one_line(freed).startswith("released the local lock held by ")
        assert f":{holder.pid}" in freed.stdout
        assert lock_state(project, "local", THIS_RUN)["held"] is False


def test_outside_ci_the_same_user_on_this_host_frees_it(project: Project) -> None:
    with local_holder(project, by_hand("alice")):
        freed = project.inv("lock", "--env", "local", "--release", extra_env=by_hand("alice"))
        assert freed.returncode == 0, freed.stdout + freed.stderr
        assert "released the local lock" in freed.stdout
        assert lock_state(project, "local", THIS_RUN)["held"] is False


def test_release_of_a_free_lock_says_so(project: Project) -> None:
    done = project.inv("lock", "--env", "local", "--release", extra_env=THIS_RUN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert one_line(done) == "the local lock was not held"


def test_release_json_names_what_was_left(project: Project) -> None:
    with local_holder(project, OTHER_RUNS["an operator by hand"]):
        done = project.inv("lock", "--env", "local", "--release", "--json", extra_env=THIS_RUN)
        assert done.returncode == 0, done.stdout + done.stderr
        doc = json.loads(done.stdout)
        assert doc["released"] is None
        assert doc["left"]["message"] == "rollback to 0.0.9 by hand"
        assert doc["left"]["run"] == run_identity(by_hand("alice"))


def test_force_without_release_is_bad_input(project: Project) -> None:
    done = project.inv("lock", "--env", "local", "--force")
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "--force" in done.stderr
    assert "Traceback" not in done.stderr


# -- the DynamoDB lock ---------------------------------------------------------------------------
def dynamo_lock(project: Project, run: str, **kwargs: object) -> DynamoDbLock:
    from shipyard.adapters.aws import AwsClients
    from shipyard.config import load_config
    from shipyard.config.aws import AwsConfig

    table = load_config("staging", root=project.path).lock.table
    return DynamoDbLock(
        AwsClients(AwsConfig(region=REGION)),
        table=table,
        environment="staging",
        ttl_seconds=600,
        owner=f"{run} (owner)",
        run=run,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("other", OTHER_RUNS.values(), ids=OTHER_RUNS.keys())
def test_dynamodb_lock_of_another_run_survives_release_and_force_frees_it(
    project: Project, aws: MotoServer, other: dict[str, str]
) -> None:
    env = {**aws.env(), **THIS_RUN}
    theirs = dynamo_lock(project, run_identity(other))
    theirs.acquire("rollback to 0.0.9 by hand")

    left = project.inv("lock", "--env", "staging", "--release", extra_env=env)
    assert left.returncode == 0, left.stdout + left.stderr
    line = one_line(left)
    assert line.startswith(f"left the staging lock of {run_identity(other)} (owner)")
    assert "not this run's" in line
    still = theirs.status()
    assert still is not None
    assert still.run == run_identity(other)

    forced = project.inv("lock", "--env", "staging", "--release", "--force", extra_env=env)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert one_line(forced).startswith(f"released the staging lock held by {run_identity(other)}")
    assert theirs.status() is None


def test_dynamodb_lock_this_run_holds_is_freed(project: Project, aws: MotoServer) -> None:
    ours = dynamo_lock(project, run_identity(THIS_RUN))
    ours.acquire("release 0.1.0")
    env = {**aws.env(), **THIS_RUN}
    freed = project.inv("lock", "--env", "staging", "--release", extra_env=env)
    assert freed.returncode == 0, freed.stdout + freed.stderr
    assert one_line(freed).startswith("released the staging lock held by ")
    assert ours.status() is None


def test_dynamodb_release_never_deletes_a_lock_taken_in_between(
    project: Project, aws: MotoServer
) -> None:
    now = [1000.0]
    clock = {"clock": lambda: now[0], "sleep": lambda _s: None}
    ours = dynamo_lock(project, "run A", **clock)
    ours.acquire("release 0.1.0")
    seen = ours.status()
    assert seen is not None
    now[0] += 601  # ours expired while the cleanup step looked at it; run B takes the lock
    theirs = dynamo_lock(project, "run B", **clock)
    theirs.acquire("rollback")
    assert ours.free_exactly(seen) is False  # the conditional delete refuses: not what it saw
    held = theirs.status()
    assert held is not None
    assert held.run == "run B"
    result = ours.free()
    assert result.freed is None
    assert result.kept is not None
    assert result.kept.run == "run B"
    assert theirs.status() is not None


def test_local_release_never_deletes_a_lock_taken_in_between(tmp_path: Path) -> None:
    from shipyard.locking.local import FileLock

    path = tmp_path / "deploy.lock"
    ours = FileLock(path, environment="local", run="run A")
    ours.acquire("release 0.1.0")
    seen = FileLock(path, environment="local", run="run A").status()
    assert seen is not None
    ours.release()
    theirs = FileLock(path, environment="local", run="run B")
    theirs.acquire("rollback")
    cleaner = FileLock(path, environment="local", run="run A")
    assert cleaner.free_exactly(seen) is False
    result = cleaner.free()
    assert result.freed is None
    assert result.kept is not None
    assert result.kept.run == "run B"
    assert FileLock(path, environment="local", run="run C").status() is not None
    theirs.release()
