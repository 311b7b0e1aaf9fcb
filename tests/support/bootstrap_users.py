"""Real non-root users for bootstrap's tests: a new user with or without passwordless sudo,
removed afterwards with every trace bootstrap left for it, and the registry requests that clean
up what such a user pushed."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REGISTRY_PASSWORD_FILE, _remove_images


@dataclass(frozen=True)
class CiUser:
    name: str
    home: Path
    uid: int

    def run(self, command: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """COMMAND in a login shell of the user, with a clean environment (pip's settings kept:
        they are how this machine reaches its package index)."""
        pip = [f"{k}={v}" for k, v in os.environ.items() if k.startswith("PIP_")]
        return subprocess.run(
            [
                "sudo",
                "-u",
                self.name,
                "-H",
                "env",
                "-i",
                f"HOME={self.home}",
                f"USER={self.name}",
                f"LOGNAME={self.name}",
                "PATH=/usr/local/bin:/usr/bin:/bin",
                "LC_ALL=C.UTF-8",
                *pip,
                "bash",
                "-lc",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


# Two xdist workers may both find sudo missing: apt holds one dpkg lock, so they take turns.
SUDO_INSTALL_LOCK = Path(tempfile.gettempdir()) / "shipyard-tests-install-sudo.lock"


def ensure_sudo() -> None:
    """Install sudo once per machine, whichever test asks first; apt's own errors when it fails."""
    with SUDO_INSTALL_LOCK.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if shutil.which("sudo"):
            return
        apt_get(["update", "-qq"])
        apt_get(["install", "-y", "-qq", "--no-install-recommends", "sudo"])


def apt_get(args: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Waits for a dpkg lock that another process (unattended-upgrades, a user) holds.
    command = ["apt-get", "-o", "DPkg::Lock::Timeout=300", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")


@pytest.fixture
def ci_user() -> Iterator[CiUser]:
    """A new user with passwordless sudo."""
    yield from temporary_user(sudo=True)


@pytest.fixture
def user_without_sudo() -> Iterator[CiUser]:
    """A new user that sudo does not let in (sudo asks for a password it would then refuse)."""
    yield from temporary_user(sudo=False)


def temporary_user(*, sudo: bool) -> Iterator[CiUser]:
    """A new user, removed afterwards with every trace bootstrap left for it."""
    ensure_sudo()
    name = f"shipyard-ci-{uuid.uuid4().hex[:8]}"
    sudoers = Path("/etc/sudoers.d") / name
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)
    try:
        if sudo:
            sudoers.write_text(f"{name} ALL=(ALL) NOPASSWD: ALL\n")
            sudoers.chmod(0o440)
            subprocess.run(["visudo", "-cqf", str(sudoers)], check=True)
        entry = pwd.getpwnam(name)
        yield CiUser(name, Path(entry.pw_dir), entry.pw_uid)
    finally:
        sudoers.unlink(missing_ok=True)
        registry = REGISTRY_PASSWORD_FILE.parent
        for path in (registry.parent, registry, REGISTRY_PASSWORD_FILE):
            drop_acl_entry(path, name)
        subprocess.run(["userdel", "-r", name], capture_output=True, check=False)


def drop_acl_entry(path: Path, user: str) -> None:
    """Remove USER's ACL entry; with no named entry left, the ACL goes too (plain mode bits)."""
    subprocess.run(["setfacl", "-x", f"u:{user}", str(path)], capture_output=True, check=False)
    acl = subprocess.run(["getfacl", "-cp", str(path)], capture_output=True, text=True, check=False)
    named = [ln for ln in acl.stdout.splitlines() if re.match(r"(user|group):[^:]+:", ln)]
    if acl.returncode == 0 and not named:
        subprocess.run(["setfacl", "-b", str(path)], capture_output=True, check=False)


def registry_request(
    method: str, path: str, password: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    auth = base64.b64encode(f"shipyard:{password}".encode()).decode()
    req = urllib.request.Request(
        f"http://127.0.0.1:5000{path}",
        method=method,
        headers={"Authorization": f"Basic {auth}", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


MANIFESTS = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def delete_repository(repository: str, password: str) -> None:
    """Remove what the test pushed: every tag's manifest in the registry, the local images."""
    status, _, body = registry_request("GET", f"/v2/{repository}/tags/list", password)
    for tag in (json.loads(body).get("tags") or []) if status == 200 else []:
        _, headers, _ = registry_request(
            "HEAD", f"/v2/{repository}/manifests/{tag}", password, {"Accept": MANIFESTS}
        )
        digest = headers.get("Docker-Content-Digest")
        if digest:
            registry_request("DELETE", f"/v2/{repository}/manifests/{digest}", password)
    _remove_images(repository)
