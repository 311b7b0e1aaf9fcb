"""inv exec and inv run on the local target: the real CLI against a live release on the real
Docker engine (exec in the live container, a one-off run with the environment and secrets on
the stack's network, their dry runs, and bad input refused in one line)."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from shipyard.operations.exec_run import RUN_LABEL
from tests.support.live_release import app_container, live
from tests.support.localenv import LocalEnv

__all__ = ["live"]  # the fixture


# -- local: the real engine ---------------------------------------------------------------------
@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_local_exec_runs_in_the_live_container_and_exits_with_its_code(live: LocalEnv) -> None:
    script = 'printf "%s|" "a  b" "$ENVIRONMENT"; hostname; exit 3'
    proc = live.project.inv("exec", "--env", "local", "--", "sh", "-c", script)
    assert proc.returncode == 3, proc.stderr
    inspected = subprocess.run(
        ["docker", "inspect", "--format", "{{.Config.Hostname}}", app_container(live)],
        capture_output=True,
        text=True,
        check=True,
    )
    # the quoting survived (two spaces, one argument) and it ran in the live container
    assert proc.stdout.strip() == f"a  b|local|{inspected.stdout.strip()}"
    document = json.loads(live.project.inv("exec", "--json", "--", "true", check=True).stdout)
    assert document["exit_code"] == 0
    assert document["where"] == app_container(live)


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_local_exec_dry_run_shows_the_call(live: LocalEnv) -> None:
    proc = live.project.inv("exec", "--dry-run", "--", "touch", "/tmp/was-here", check=True)
    assert "docker container exec --interactive" in proc.stdout
    assert "nothing was changed" in proc.stdout
    ls = live.project.inv("exec", "--", "ls", "/tmp/was-here")
    assert ls.returncode == 1  # busybox ls: no such file


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_local_run_is_a_one_off_with_the_environment_and_secrets_on_the_stack_network(
    live: LocalEnv,
) -> None:
    secret = (live.state / "secrets" / "db-password").read_text().strip()
    script = (
        'printf %s "$DB_PASSWORD" | sha256sum; echo "$ENVIRONMENT"; '
        "wget -q -O - http://gamepulse:8080/version; echo; exit 4"
    )
    proc = live.project.inv("run", "--env", "local", "--", "sh", "-c", script)
    assert proc.returncode == 4, proc.stderr
    digest, environment, version = proc.stdout.split("\n")[:3]
    assert digest.split()[0] == hashlib.sha256(secret.encode()).hexdigest()
    assert environment == "local"
    assert version == (live.project.path / "version.txt").read_text().strip()
    assert secret not in proc.stdout + proc.stderr
    left = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label={RUN_LABEL}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [n for n in left if n.startswith(live.project.repository)] == []
    assert list((live.state / "run").glob("*.env")) == []  # the env file is gone too


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_local_run_dry_run_names_the_env_file_not_the_secret(live: LocalEnv) -> None:
    secret = (live.state / "secrets" / "db-password").read_text().strip()
    proc = live.project.inv("run", "--dry-run", "--json", "--", "true", check=True)
    document = json.loads(proc.stdout)
    create = document["steps"][0]["command"]
    assert create[create.index("--env-file") + 1] == "<0600 env file of DB_PASSWORD>"
    assert secret not in proc.stdout


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_local_run_of_a_container_whose_image_is_not_here_pulls_nothing(live: LocalEnv) -> None:
    """The sidecar's image is not on this machine (the release skipped it): nothing is pulled
    from a registry the environment does not name."""
    proc = live.project.inv("run", "--container", "otel-collector", "--", "true")
    assert proc.returncode == 1, proc.stderr
    assert "image public.ecr.aws/aws-observability/aws-otel-collector" in proc.stderr
    assert "is not on this machine" in proc.stderr
    planned = live.project.inv("run", "--dry-run", "--json", "--", "true", check=True)
    create = json.loads(planned.stdout)["steps"][0]["command"]
    assert create[create.index("--pull") + 1] == "missing"  # the configured registry's image


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("exec",), "inv exec needs a command after --"),
        (("run", "--"), "inv run needs a command after --"),
        (("exec", "--container", "nope", "--", "true"), "has no container 'nope'"),
        (("run", "--container", "nope", "--", "true"), "has no container 'nope'"),
        (("exec", "--service", "api", "--", "true"), "--service names an ECS service"),
    ],
)
def test_local_exec_and_run_refuse_bad_input_in_one_line(
    live: LocalEnv, args: tuple[str, ...], words: str
) -> None:
    proc = live.project.inv(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert words in lines[0]
    assert "Traceback" not in proc.stderr
