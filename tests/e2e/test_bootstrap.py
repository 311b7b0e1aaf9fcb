"""scripts/bootstrap.sh on the machines it supports.

* `--plan` on simulated machines: the os-release files of Debian 12/13 and Ubuntu 22.04/24.04
  (tests/e2e/os_release/), and small fake `docker`, `dpkg-query`, `sudo` and `id` commands first
  on a PATH that holds nothing else of Docker, apt or sudo. Every other command that could change
  the machine is a recorder there, and the run's HOME, TMPDIR, machine state and checkout are
  temporary: after a plan all of them are as they were.
* A real run as a new non-root user with passwordless sudo, in a clone in that user's home:
  bootstrap, then `inv build tag push --env local` to this machine's registry, twice.
* Root's runs on this (set-up) machine stay quiet: "[bootstrap] ready" and nothing else.
"""

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
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REGISTRY_PASSWORD_FILE, REPO, _remove_images, free_port

SCRIPT = REPO / "scripts" / "bootstrap.sh"
OS_RELEASES = Path(__file__).parent / "os_release"
OSES = ["debian-12", "debian-13", "ubuntu-22.04", "ubuntu-24.04"]
DOCKER_CE = {"docker-ce", "docker-ce-cli", "containerd.io"}


def script_packages() -> set[str]:
    """The script's own package list for the default (full) profile: what a set-up machine
    has."""
    found = re.search(r"^  full\) APT_PACKAGES=\((.*)\)$", SCRIPT.read_text(), re.M)
    assert found, "scripts/bootstrap.sh lists the full profile's packages in APT_PACKAGES=(...)"
    return set(found.group(1).split())


APT_PACKAGES = script_packages()

# Real commands a plan must never run: a recorder with the same name stands first on PATH.
# fmt: off
RECORDED = [
    "apt-get", "apt", "apt-cache", "dpkg",                                 # packages
    "dockerd", "containerd", "docker-registry", "systemctl", "service",    # services
    "setsid", "nohup",
    "useradd", "usermod", "groupadd", "gpasswd", "sg", "newgrp",           # users and groups
    "setfacl", "chgrp", "chmod", "chown", "mkdir", "install", "tee", "cp",  # files
    "mv", "rm", "ln", "mktemp", "htpasswd",
    "python3", "pip", "pip3",                                              # the venv
]
# fmt: on
# Simulated by the fakes below, or left out (sudo missing, no docker CLI).
FAKED = ["docker", "sudo", "id", "dpkg-query"]

RECORDER = """#!/bin/sh
printf '%s %s\\n' "$(basename "$0")" "$*" >> "$FAKE_LOG"
exit 1
"""

FAKE_ID = """#!/bin/bash
case "$*" in
  -u) echo "${FAKE_UID:-$(/usr/bin/id -u)}" ;;
  -un) echo "${FAKE_USER:-$(/usr/bin/id -un)}" ;;
  "-nG "*)
    if [ -n "${FAKE_USER:-}" ]; then echo "${FAKE_GROUPS:-$FAKE_USER}"; exit; fi
    exec /usr/bin/id "$@" ;;
  *) exec /usr/bin/id "$@" ;;
esac
"""

FAKE_DPKG_QUERY = """#!/bin/bash
pkg=${!#}
if grep -qxF -- "$pkg" "$FAKE_INSTALLED"; then printf 'install ok installed'; exit 0; fi
echo "dpkg-query: no packages found matching $pkg" >&2
exit 1
"""

# FAKE_ENGINE: answers | root-only (only through sudo) | down. FAKE_BUILDX: works | missing.
FAKE_DOCKER = """#!/bin/bash
engine_up() {
  case $FAKE_ENGINE in answers) ;; root-only) [ -n "${FAKE_AS_ROOT:-}" ] ;; *) false ;; esac
}
case "$1 ${2:-}" in
  "info "*)
    if engine_up; then echo 27.3.1; exit 0; fi
    if [ "$FAKE_ENGINE" = root-only ]; then
      echo "permission denied while trying to connect to the Docker daemon socket" >&2; exit 1
    fi
    echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1 ;;
  "buildx version")
    if [ "$FAKE_BUILDX" = works ]; then echo "github.com/docker/buildx v0.17.1 257815a"; exit 0; fi
    echo "docker: 'buildx' is not a docker command." >&2; exit 1 ;;
  "image inspect")
    if engine_up; then echo '[{}]'; exit 0; fi
    echo "Error: No such image" >&2; exit 1 ;;
esac
printf 'docker %s\\n' "$*" >> "$FAKE_LOG"
exit 1
"""

# FAKE_SUDO: nopasswd | asks. Every call is logged; the command runs as the fakes see "root".
FAKE_SUDO = """#!/bin/bash
printf 'sudo %s\\n' "$*" >> "$FAKE_SUDO_LOG"
if [ "$FAKE_SUDO" != nopasswd ]; then echo "sudo: a password is required" >&2; exit 1; fi
[ "$1" = -n ] && shift
export FAKE_AS_ROOT=1
exec "$@"
"""

# What a plan may ask sudo: read-only probes.
SUDO_PROBE = re.compile(r"^sudo -n (true|test |stat |cat |docker (info|image inspect) )")


def write_exe(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


@dataclass(frozen=True)
class Bins:
    sandbox: Path  # this machine's commands, less Docker (CLI and engine), apt, sudo, id
    fakes: Path  # recorders, fake id and dpkg-query
    docker: Path  # the fake docker CLI, on PATH when the machine has one
    sudo: Path  # the fake sudo, on PATH unless sudo is missing


@pytest.fixture(scope="session")
def bins(tmp_path_factory: pytest.TempPathFactory) -> Bins:
    base = tmp_path_factory.mktemp("bootstrap-bins")
    made = Bins(base / "sandbox", base / "fakes", base / "docker", base / "sudo")
    for d in (made.sandbox, made.fakes, made.docker, made.sudo):
        d.mkdir()
    # dockerd too: whether the simulated machine has one is SimulatedMachine.dockerd
    engine = {"docker-init", "docker-proxy", "containerd-shim", "dockerd"}
    left_out = set(RECORDED) | set(FAKED) | engine
    for d in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        for exe in sorted(Path(d).iterdir()) if Path(d).is_dir() else []:
            link = made.sandbox / exe.name
            if exe.name in left_out or link.exists() or not os.access(exe, os.X_OK):
                continue
            link.symlink_to(exe)
    for name in RECORDED:
        if name != "dockerd":  # in the machine's sbin, where SimulatedMachine.dockerd says
            write_exe(made.fakes / name, RECORDER)
    write_exe(made.fakes / "id", FAKE_ID)
    write_exe(made.fakes / "dpkg-query", FAKE_DPKG_QUERY)
    write_exe(made.docker / "docker", FAKE_DOCKER)
    write_exe(made.sudo / "sudo", FAKE_SUDO)
    return made


@dataclass
class Plan:
    proc: subprocess.CompletedProcess[str]

    @property
    def lines(self) -> list[str]:
        return self.proc.stdout.splitlines()

    def decision(self, step: str) -> str:
        found = [ln for ln in self.lines if ln.startswith(step + ":")]
        assert len(found) == 1, f"one '{step}:' line expected in:\n{self.proc.stdout}"
        return found[0]

    def has(self, step: str) -> bool:
        return any(ln.startswith(step + ":") for ln in self.lines)

    @property
    def to_install(self) -> set[str]:
        m = re.match(r"packages: would install (.+) \(missing\)", self.decision("packages"))
        return set(m.group(1).split()) if m else set()


@dataclass
class SimulatedMachine:
    """A machine described by an os-release file and what its fakes answer."""

    tmp: Path
    bins: Bins
    os_name: str = "debian-12"
    engine: str = "answers"  # answers | root-only | down | none (no docker CLI)
    dockerd: bool = True  # a dockerd binary beside the CLI (where the engine is not "none")
    buildx: str = "works"
    installed: set[str] = field(default_factory=lambda: set(APT_PACKAGES) | {"docker.io"})
    sudo: str = "nopasswd"  # nopasswd | asks | missing
    user: str | None = None  # a non-root user name (uid 1000) instead of root
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = self.tmp / "checkout"  # a copy of the script in a checkout of its own
        (self.root / "scripts").mkdir(parents=True)
        shutil.copy2(SCRIPT, self.root / "scripts" / "bootstrap.sh")
        shutil.copy2(REPO / "pyproject.toml", self.root / "pyproject.toml")
        shutil.copytree(REPO / "requirements", self.root / "requirements")
        self.home, self.tmpdir, self.apt_etc = self.tmp / "home", self.tmp / "tmp", self.tmp / "apt"
        self.sbin = self.tmp / "sbin"
        for d in (self.home, self.tmpdir, self.apt_etc, self.sbin):
            d.mkdir()
        self.state = self.tmp / "state"  # must never be created
        self.log, self.sudo_log = self.tmp / "changes.log", self.tmp / "sudo.log"
        self.log.touch()
        self.sudo_log.touch()

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`scripts/bootstrap.sh --plan ARGS` on this machine; asserts that nothing changed."""
        before = self.snapshot()
        installed = self.tmp / "installed"
        installed.write_text("".join(p + "\n" for p in sorted(self.installed)))
        dockerd = self.sbin / "dockerd"
        dockerd.unlink(missing_ok=True)
        if self.dockerd and self.engine != "none":
            write_exe(dockerd, RECORDER)
        path = [self.bins.fakes]
        if self.engine != "none":
            path.append(self.bins.docker)
        if self.sudo != "missing":
            path.append(self.bins.sudo)
        env = {
            "PATH": os.pathsep.join(str(p) for p in [*path, self.bins.sandbox]),
            "HOME": str(self.home),
            "TMPDIR": str(self.tmpdir),
            "LC_ALL": "C",
            "SHIPYARD_OS_RELEASE": str(OS_RELEASES / self.os_name),
            "SHIPYARD_MACHINE_STATE": str(self.state),
            "SHIPYARD_REGISTRY_ADDR": f"127.0.0.1:{free_port()}",
            "SHIPYARD_APT_ETC": str(self.apt_etc),
            "SHIPYARD_SBIN_DIRS": str(self.sbin),
            "FAKE_LOG": str(self.log),
            "FAKE_SUDO_LOG": str(self.sudo_log),
            "FAKE_INSTALLED": str(installed),
            "FAKE_ENGINE": self.engine,
            "FAKE_BUILDX": self.buildx,
            "FAKE_SUDO": self.sudo,
            **({"FAKE_UID": "1000", "FAKE_USER": self.user} if self.user else {}),
            **self.env,
        }
        proc = subprocess.run(
            [str(self.root / "scripts" / "bootstrap.sh"), "--plan", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert self.log.read_text() == "", "a plan ran commands that change the machine"
        for call in self.sudo_log.read_text().splitlines():
            assert SUDO_PROBE.match(call), f"a plan asked sudo for more than a probe: {call}"
        assert not self.state.exists()
        assert self.snapshot() == before
        return proc

    def plan(self, *args: str) -> Plan:
        proc = self.run(*args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return Plan(proc)

    def snapshot(self) -> dict[str, tuple[int, int, int]]:
        """Every path of the checkout, HOME and TMPDIR with its mode, owner and mtime."""
        return {
            str(p): (st.st_mode, st.st_uid, st.st_mtime_ns)
            for top in (self.root, self.home, self.tmpdir)
            for p in [top, *top.rglob("*")]
            for st in [p.lstat()]
        }


@pytest.fixture
def machine(tmp_path: Path, bins: Bins) -> SimulatedMachine:
    return SimulatedMachine(tmp_path, bins)


# -- the matrix: 4 distributions x engine x buildx ---------------------------------------------

ENGINES = ["answers", "docker-ce-down", "none"]
MATRIX = [
    (os_name, engine, buildx)
    for os_name in OSES
    for engine in ENGINES
    for buildx in ("works", "missing")
    if not (engine == "none" and buildx == "works")  # no docker CLI, no plugin to run
]


def docker_packages(os_name: str, engine: str) -> set[str]:
    if engine == "answers":  # Debian's own engine; a GitHub runner's docker-ce on Ubuntu
        return {"docker.io"} if os_name.startswith("debian") else DOCKER_CE
    return DOCKER_CE if engine == "docker-ce-down" else set()


@pytest.mark.parametrize(
    ("os_name", "engine", "buildx"), MATRIX, ids=[f"{o}-{e}-buildx-{b}" for o, e, b in MATRIX]
)
def test_plan_decisions(machine: SimulatedMachine, os_name: str, engine: str, buildx: str) -> None:
    machine.os_name = os_name
    machine.engine = "down" if engine == "docker-ce-down" else engine
    machine.buildx = buildx
    machine.installed = APT_PACKAGES | docker_packages(os_name, engine)
    plan = machine.plan()
    distro, version = os_name.split("-")
    pretty = f"{distro.capitalize()} {version}"

    assert (
        plan.decision("privilege") == "privilege: root -> machine-wide steps run directly, no sudo"
    )
    assert plan.decision("os").startswith(f"os: {pretty} (")
    assert plan.decision("os").endswith("-> supported")

    engine_line = plan.decision("docker engine")
    if engine == "answers":
        assert engine_line == "docker engine: answers (Docker 27.3.1) -> install no Docker package"
        assert not plan.has("dockerd")
    elif engine == "docker-ce-down":
        assert "docker-ce is installed -> never docker.io" in engine_line
        assert plan.decision("dockerd") == (
            "dockerd: not running -> start dockerd, log in /var/log/shipyard/dockerd.log"
        )
    else:
        assert engine_line.endswith("-> apt-get install docker.io, then start dockerd")
        assert plan.decision("dockerd").startswith("dockerd: not running -> start dockerd")
    # docker.io only where there is no engine at all; never beside docker-ce
    assert ("docker.io" in plan.to_install) == (engine == "none")
    assert not plan.to_install & DOCKER_CE

    buildx_line = plan.decision("buildx")
    if buildx == "works":
        assert buildx_line == "buildx: works (v0.17.1) -> install nothing"
        assert not {"docker-buildx", "docker-buildx-plugin"} & plan.to_install
    elif os_name == "debian-12":
        assert "Debian trixie's docker-buildx into /usr/local/lib/docker/cli-plugins" in buildx_line
        assert "docker-buildx" not in plan.to_install
    elif os_name == "debian-13":
        assert buildx_line == "buildx: missing, Debian 13 -> apt-get install docker-buildx"
        assert "docker-buildx" in plan.to_install
    else:
        assert buildx_line == (
            f"buildx: missing, {pretty} -> apt-get install docker-buildx (Ubuntu's own package)"
        )
        assert "docker-buildx" in plan.to_install
    if os_name != "debian-12":
        assert "trixie" not in buildx_line
    if distro == "ubuntu":
        assert "trixie" not in plan.proc.stdout

    # the rest of a fresh machine: nothing of shipyard's state exists yet
    assert plan.to_install <= {"docker.io", "docker-buildx"}
    assert plan.decision("registry state").endswith("missing -> create it root-only (0700)")
    assert plan.decision("registry").startswith("registry: not answering with auth")
    assert plan.decision("python venv") == (
        "python venv: .venv missing -> python3 -m venv as root, pip install --require-hashes "
        "-r requirements/dev.lock, then shipyard itself (-e, no dependencies)"
    )
    if engine == "answers":
        assert plan.decision("base image").endswith("present -> nothing")
    else:
        assert plan.decision("base image").startswith("base image: engine not up yet")
    assert plan.lines[-1] == "then: ready"
    assert plan.proc.stderr == ""


@pytest.mark.parametrize("os_name", OSES)
def test_the_fixtures_are_real_os_release_files(os_name: str) -> None:
    fields = dict(
        line.split("=", 1) for line in (OS_RELEASES / os_name).read_text().splitlines() if line
    )
    distro, version = os_name.split("-")
    assert fields["ID"] == distro
    assert fields["VERSION_ID"] == f'"{version}"'
    assert fields["VERSION_CODENAME"] in {"bookworm", "trixie", "jammy", "noble"}
    assert fields.get("ID_LIKE") == ("debian" if distro == "ubuntu" else None)


def test_plan_names_missing_packages(machine: SimulatedMachine) -> None:
    machine.installed -= {"nginx", "acl"}
    plan = machine.plan()
    assert (
        plan.decision("packages")
        == "packages: would install nginx acl (missing) -> apt-get install"
    )


def test_plan_on_an_ubuntu_runner_with_docker_ce_repo(machine: SimulatedMachine) -> None:
    machine.os_name, machine.buildx = "ubuntu-24.04", "missing"
    machine.installed = APT_PACKAGES | DOCKER_CE
    (machine.apt_etc / "sources.list.d").mkdir()
    (machine.apt_etc / "sources.list.d" / "docker.list").write_text(
        "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] "
        "https://download.docker.com/linux/ubuntu noble stable\n"
    )
    plan = machine.plan()
    assert plan.decision("buildx") == (
        "buildx: missing, docker-ce's apt repository is configured "
        "-> apt-get install docker-buildx-plugin"
    )
    assert plan.to_install == {"docker-buildx-plugin"}


def test_plan_as_a_user_with_passwordless_sudo(machine: SimulatedMachine) -> None:
    machine.user = "ci"
    machine.installed -= {"nginx"}
    plan = machine.plan()
    assert plan.decision("privilege") == (
        "privilege: non-root (ci) with passwordless sudo -> machine-wide steps via sudo -n"
    )
    assert plan.decision("packages") == (
        "packages: would install nginx (missing) -> apt-get install via sudo"
    )
    assert plan.decision("registry state").endswith("-> create it root-only (0700) via sudo")
    grant = [ln for ln in plan.lines if "POSIX ACL" in ln]
    assert grant == [
        "registry credentials: not readable by ci -> grant read with a POSIX ACL "
        "(u:ci:r on the password, x on its directories) via sudo"
    ]
    assert plan.decision("python venv").endswith(
        "-> python3 -m venv as ci, pip install --require-hashes -r requirements/dev.lock, "
        "then shipyard itself (-e, no dependencies)"
    )
    assert "sudo -n true" in machine.sudo_log.read_text().splitlines()


def test_plan_when_only_root_reaches_the_engine(machine: SimulatedMachine) -> None:
    machine.user, machine.engine = "ci", "root-only"
    plan = machine.plan()
    assert plan.decision("docker engine") == (
        "docker engine: answers root only (Docker 27.3.1) -> install no Docker package"
    )
    assert plan.decision("docker access") == (
        "docker access: engine answers root only (socket permission) "
        "-> add ci to group docker via sudo, re-run under sg docker"
    )
    machine.env["FAKE_GROUPS"] = "ci docker"  # added earlier; this login predates it
    assert machine.plan().decision("docker access") == (
        "docker access: ci is in group docker, this session predates it -> re-run under sg docker"
    )


@pytest.mark.parametrize(
    ("sudo", "says"),
    [
        (
            "missing",
            "sudo is not installed: run scripts/bootstrap.sh once as root, or install sudo",
        ),
        ("asks", "sudo asks ci for a password: allow passwordless sudo ('ci ALL=(ALL) NOPASSWD"),
    ],
)
def test_plan_without_usable_sudo_says_what_to_do(
    machine: SimulatedMachine, sudo: str, says: str
) -> None:
    machine.user, machine.sudo = "ci", sudo
    plan = machine.plan()
    line = plan.decision("privilege")
    assert line.startswith(
        f"privilege: non-root (ci), {'no-sudo' if sudo == 'missing' else 'sudo-asks'}"
    )
    assert says in line


def test_plan_without_sudo_when_only_root_reaches_the_engine(machine: SimulatedMachine) -> None:
    machine.user, machine.engine, machine.sudo = "ci", "root-only", "missing"
    plan = machine.plan()
    assert plan.decision("docker engine") == (
        "docker engine: answers root only (Docker ?, socket permission denied) "
        "-> install no Docker package"
    )
    assert plan.decision("docker access").startswith(
        "docker access: engine answers root only (socket permission) -> add ci to group docker"
    )
    assert plan.decision("privilege").endswith(
        "stops with: it needs root and sudo is not installed: run scripts/bootstrap.sh once as "
        "root, or install sudo and allow 'ci ALL=(ALL) NOPASSWD: ALL' in /etc/sudoers.d/shipyard"
    )


def test_plan_installs_an_engine_beside_a_lone_docker_cli(machine: SimulatedMachine) -> None:
    """A machine image that ships only the docker client: the engine comes from docker.io."""
    machine.engine, machine.dockerd = "down", False
    machine.installed = set(APT_PACKAGES)
    plan = machine.plan()
    assert plan.decision("docker engine").endswith(
        "but no dockerd -> apt-get install docker.io, then start dockerd"
    )
    assert "docker.io" in plan.to_install
    assert plan.decision("dockerd").startswith("dockerd: not running -> start dockerd")


def test_plan_with_a_command(machine: SimulatedMachine) -> None:
    plan = machine.plan("inv", "release", "--env", "local")
    assert plan.lines[-1] == (
        f"command: would run 'inv release --env local' in .venv, from {machine.root}"
    )


def test_plan_under_github_actions(machine: SimulatedMachine) -> None:
    github_path = machine.tmp / "github_path"
    github_path.write_text("/opt/tool/bin\n")
    machine.env["GITHUB_PATH"] = str(github_path)
    plan = machine.plan()
    assert plan.decision("github actions") == (
        f"github actions: append {machine.root}/.venv/bin to GITHUB_PATH "
        "-> later steps call inv and nox directly"
    )
    assert github_path.read_text() == "/opt/tool/bin\n"


def test_plan_for_a_checkout_owned_by_another_user(machine: SimulatedMachine) -> None:
    subprocess.run(["git", "init", "-q", str(machine.root)], check=True)
    for p in [machine.root, *machine.root.rglob("*")]:
        os.lchown(p, 12345, 12345)
    machine.env["GIT_CONFIG_NOSYSTEM"] = "1"
    assert machine.plan().decision("git") == (
        "git: the checkout belongs to another user -> trust it for the command run here only "
        "(GIT_CONFIG_* in its environment; no git config is written)"
    )
    # once it is listed (here: for every checkout), nothing more is added
    (machine.home / ".gitconfig").write_text("[safe]\n\tdirectory = *\n")
    config = (machine.home / ".gitconfig").stat().st_mtime_ns
    proc = machine.run()
    assert "git: the checkout is usable by root -> nothing" in proc.stdout.splitlines()
    assert (machine.home / ".gitconfig").stat().st_mtime_ns == config


def test_plan_rejects_an_unsupported_distribution(machine: SimulatedMachine) -> None:
    fedora = machine.tmp / "fedora"
    fedora.write_text('NAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\n')
    machine.env["SHIPYARD_OS_RELEASE"] = str(fedora)
    proc = machine.run()
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == (
        f"[bootstrap] error: unsupported distribution 'fedora' in {fedora}: "
        "this script supports Debian 12/13 and Ubuntu 22.04/24.04"
    )


# -- root on this machine: as today ---------------------------------------------------------------

# A plan line that decides to do nothing.
IDLE = re.compile(
    r"-> (nothing|install nothing|install no Docker package|apt-get nothing|keep them"
    r"|no grant needed|supported|machine-wide steps run directly, no sudo)( |$)|^then: ready$"
    r"|^profile: "
)


def root_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SHIPYARD_", "PYTEST_"))
    }


@pytest.mark.docker
@pytest.mark.registry
def test_root_runs_stay_quiet_and_plan_nothing() -> None:
    """As root on this machine (set up by the run that started this suite) a run is idempotent:
    the second run prints only ready, and a plan finds nothing to do."""
    first = subprocess.run(
        [str(SCRIPT)], env=root_env(), capture_output=True, text=True, timeout=600
    )
    assert first.returncode == 0, first.stderr
    again = subprocess.run(
        [str(SCRIPT)], env=root_env(), capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert again.stderr == "[bootstrap] ready\n"
    plan = subprocess.run(
        [str(SCRIPT), "--plan"], env=root_env(), capture_output=True, text=True, timeout=120
    )
    assert plan.returncode == 0, plan.stderr
    busy = [ln for ln in plan.stdout.splitlines() if not IDLE.search(ln)]
    assert busy == []


# -- real runs as non-root users ----------------------------------------------------------------


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
