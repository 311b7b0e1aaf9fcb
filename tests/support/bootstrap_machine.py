"""A simulated machine for scripts/bootstrap.sh --plan: the os-release files of Debian 12/13 and
Ubuntu 22.04/24.04 (tests/e2e/os_release/), and small fake `docker`, `dpkg-query`, `sudo` and
`id` commands first on a PATH that holds nothing else of Docker, apt or sudo. Every other command
that could change the machine is a recorder there, and the run's HOME, TMPDIR, machine state and
checkout are temporary. Also root's own environment for real runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

SCRIPT = REPO / "scripts" / "bootstrap.sh"
OS_RELEASES = REPO / "tests" / "e2e" / "os_release"
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
