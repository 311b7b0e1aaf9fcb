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

import os
import subprocess

import pytest

from tests.support.bootstrap_machine import (
    APT_PACKAGES,
    DOCKER_CE,
    IDLE,
    OS_RELEASES,
    OSES,
    SCRIPT,
    SimulatedMachine,
    bins,
    machine,
    root_env,
)

__all__ = ["bins", "machine"]  # the fixtures these tests use

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
