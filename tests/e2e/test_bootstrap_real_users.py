"""scripts/bootstrap.sh run for real by new non-root users on this machine: with passwordless
sudo, in a clone in that user's home (bootstrap, then `inv build tag push --env local` to this
machine's registry, twice); without sudo (one line saying what to do); the deploy profile; a
checkout another user owns."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import REGISTRY_PASSWORD_FILE, REPO, free_port
from tests.support.bootstrap_machine import IDLE, SCRIPT, root_env
from tests.support.bootstrap_users import (
    CiUser,
    ci_user,
    delete_repository,
    registry_request,
    user_without_sudo,
)

__all__ = ["ci_user", "user_without_sudo"]  # the fixtures these tests use


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.timeout(1800)
def test_a_user_with_passwordless_sudo_bootstraps_and_pushes(
    ci_user: CiUser, registry_password: str
) -> None:
    clone = ci_user.home / "shipyard"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    # the working tree's script (the clone has only what is committed) and an image of its own
    shutil.copy2(SCRIPT, clone / "scripts" / "bootstrap.sh")
    repository = f"t{uuid.uuid4().hex[:10]}"
    config = clone / "deploy" / "shipyard.toml"
    config.write_text(
        config.read_text().replace('repository = "gamepulse"', f'repository = "{repository}"')
    )
    ident = ["-c", "user.name=Test User", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "-C", str(clone), *ident, "commit", "-qam", "test"], check=True)
    subprocess.run(["chown", "-R", f"{ci_user.name}:", str(clone)], check=True)
    command = "cd ~/shipyard && scripts/bootstrap.sh inv build tag push --env local"
    try:
        started = time.monotonic()
        first = ci_user.run(command)
        took = time.monotonic() - started
        assert first.returncode == 0, first.stdout + first.stderr
        print(f"first run as {ci_user.name}: {took:.0f}s\n{first.stderr}")  # shown with -s / -rA

        status, _, body = registry_request("GET", f"/v2/{repository}/tags/list", registry_password)
        assert status == 200, body
        version = (clone / "version.txt").read_text().strip()
        assert version in json.loads(body)["tags"]

        venv = clone / ".venv"
        assert venv.stat().st_uid == ci_user.uid
        assert (venv / "bin" / "python").resolve().stat().st_uid in {0, ci_user.uid}
        assert {p.stat().st_uid for p in (venv / "lib").rglob("*")} == {ci_user.uid}
        # the credentials stay root's, closed to others; the user reads them through an ACL
        password = REGISTRY_PASSWORD_FILE.stat()
        assert (password.st_uid, password.st_mode & 0o007) == (0, 0)
        assert (REGISTRY_PASSWORD_FILE.parent.stat().st_mode & 0o007) == 0
        facl = subprocess.run(
            ["getfacl", "-cp", str(REGISTRY_PASSWORD_FILE)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"user:{ci_user.name}:r--" in facl.splitlines()
        assert registry_password not in first.stdout + first.stderr

        second = ci_user.run(command, timeout=600)
        assert second.returncode == 0, second.stdout + second.stderr
        assert [ln for ln in second.stderr.splitlines() if ln.startswith("[bootstrap]")] == []

        plan = ci_user.run("cd ~/shipyard && scripts/bootstrap.sh --plan", timeout=120)
        assert plan.returncode == 0, plan.stderr
        lines = plan.stdout.splitlines()
        assert lines[0] == (
            f"privilege: non-root ({ci_user.name}) with passwordless sudo "
            "-> machine-wide steps via sudo -n"
        )
        assert [ln for ln in lines[1:] if not IDLE.search(ln)] == []
    finally:
        delete_repository(repository, registry_password)

        fresh_registry_through_sudo(ci_user)


def processes_with(needle: str) -> list[int]:
    """The pids whose command line mentions NEEDLE."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and needle in (proc / "cmdline").read_text():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def http_status(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as err:
        return err.code


def fresh_registry_through_sudo(ci_user: CiUser) -> None:
    """The same user on a machine without registry state (a fresh state directory and port): the
    credentials are generated root-only, read by the user through its ACL, and a registry with
    them starts through sudo."""
    base = Path(tempfile.mkdtemp(prefix="shipyard-state-", dir="/tmp"))  # reachable by the user
    base.chmod(0o755)
    state = base / "machine-state"
    port = free_port()
    env = f"SHIPYARD_MACHINE_STATE={state} SHIPYARD_REGISTRY_ADDR=127.0.0.1:{port}"
    try:
        run = ci_user.run(f"cd ~/shipyard && {env} scripts/bootstrap.sh", timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        assert run.stderr.splitlines() == [
            f"[bootstrap] generating local registry credentials in {state}/registry",
            f"[bootstrap] granted {ci_user.name} read access to {state}/registry/password (ACL)",
            f"[bootstrap] starting the local registry on 127.0.0.1:{port}",
            "[bootstrap] ready",
        ]
        registry, password_file = state / "registry", state / "registry" / "password"
        # owner only; the group bits show the ACL mask (--x for the user's entry)
        assert (registry.stat().st_uid, registry.stat().st_mode & 0o707) == (0, 0o700)
        assert (password_file.stat().st_uid, password_file.stat().st_mode & 0o007) == (0, 0)
        read = ci_user.run(f"cat {password_file}")
        assert read.returncode == 0, read.stderr
        password = read.stdout.strip()
        assert password
        assert password not in run.stdout + run.stderr
        auth = base64.b64encode(f"shipyard:{password}".encode()).decode()
        v2 = f"http://127.0.0.1:{port}/v2/"
        assert http_status(v2, {}) == 401
        assert http_status(v2, {"Authorization": f"Basic {auth}"}) == 200
        pids = processes_with(f"{registry}/config.yml")
        assert len(pids) == 1
        assert Path(f"/proc/{pids[0]}").stat().st_uid == 0  # a machine service, run as root
        again = ci_user.run(f"cd ~/shipyard && {env} scripts/bootstrap.sh", timeout=120)
        assert (again.returncode, again.stderr) == (0, "[bootstrap] ready\n"), again.stderr
    finally:
        for pid in processes_with(f"{state}/registry/config.yml"):
            os.kill(pid, 15)
        shutil.rmtree(base)


@pytest.mark.docker
def test_a_user_without_sudo_gets_one_line_saying_what_to_do(user_without_sudo: CiUser) -> None:
    """Joining group docker needs root: without passwordless sudo the run stops there, before
    anything changed, with one line that says what to do."""
    name = user_without_sudo.name
    run = user_without_sudo.run(f"{SCRIPT}", timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    errors = [ln for ln in run.stderr.splitlines() if "error" in ln]
    assert errors == [
        f"[bootstrap] error: the engine's socket needs group docker, {name} is not in it and "
        f"sudo asks {name} for a password: ask an admin to run 'usermod -aG docker {name}', "
        "then log in again"
    ]
    assert run.stderr.splitlines()[-1] == errors[0]
    assert (
        "docker"
        not in subprocess.run(
            ["id", "-nG", name], capture_output=True, text=True, check=True
        ).stdout.split()
    )


def working_tree_clone(base: Path) -> Path:
    """The tracked files as they are in the working tree, in a fresh git repository."""
    clone = base / "clone"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    ident = ["-c", "user.name=Test User", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(clone), *ident, "commit", "-qm", "clone"], check=True)
    return clone


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_deploy_profile_installs_only_the_locked_runtime_dependencies(tmp_path: Path) -> None:
    clone = working_tree_clone(tmp_path)
    env = {**root_env(), "SHIPYARD_BOOTSTRAP": "deploy"}
    plan = subprocess.run(
        [str(clone / "scripts" / "bootstrap.sh"), "--plan"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert plan.returncode == 0, plan.stderr
    decided = {line.split(":", 1)[0] for line in plan.stdout.splitlines()}
    assert not decided & {"docker engine", "buildx", "registry", "base image", "dockerd"}
    proc = subprocess.run(
        [str(clone / "scripts" / "bootstrap.sh"), "inv", "--list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "release" in proc.stdout
    assert "requirements/runtime.lock" in proc.stderr
    freeze = subprocess.run(
        [str(clone / ".venv" / "bin" / "pip"), "freeze", "--all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    installed = {line.split("==")[0] for line in freeze.splitlines() if "==" in line}
    for tool in ("pytest", "moto", "ruff", "mypy", "nox", "hypothesis", "zizmor"):
        assert tool not in installed, f"{tool} is installed by the deploy profile"
    assert {"boto3", "invoke", "pydantic"} <= installed


def test_a_checkout_of_another_user_is_trusted_for_the_command_only(tmp_path: Path) -> None:
    clone = working_tree_clone(tmp_path)
    (clone / ".venv").symlink_to(REPO / ".venv")  # the same locks: bootstrap installs nothing
    for path in [clone, *clone.rglob("*")]:
        os.lchown(path, 12345, 12345)
    home = tmp_path / "home"
    home.mkdir()
    env = {**root_env(), "HOME": str(home), "SHIPYARD_BOOTSTRAP": "deploy"}
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    proc = subprocess.run(
        [str(clone / "scripts" / "bootstrap.sh"), "git", "rev-parse", "--show-toplevel"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(clone)
    assert not (home / ".gitconfig").exists()  # nothing written for later commands
