"""The LiveInsight plan's scripts only call `inv`, and they run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import REPO, MotoServer, Project

SCRIPTS = {
    "setup-cicd.sh": "setup-cicd",
    "verify-deployment.sh": "verify",
    "rollback.sh": "rollback",
}


@pytest.mark.parametrize(("script", "task"), SCRIPTS.items())
def test_each_script_only_calls_inv(script: str, task: str) -> None:
    path = REPO / "scripts" / script
    assert os.access(path, os.X_OK)
    code = [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    code = _without_the_environment_guard(code)
    commands = [line for line in code if re.search(r"\b(inv|INV)\b", line) and "exec" in line]
    assert commands == [
        f'exec "$INV" {task}' + (' --env "$ENV_NAME"' if task != "setup-cicd" else "") + ' "$@"'
    ]
    # nothing else runs: only the shell set-up, the cd to the root and choosing inv
    allowed = re.compile(
        r'^(#!|set -euo pipefail|cd "\$\(dirname|ENV_NAME=|\[ \$# -gt 0 \] && shift|shift$|INV=inv'
        r'|\[ -x \.venv/bin/inv \] && INV=|exec "\$INV")'
    )
    assert [line for line in code if not allowed.match(line)] == []


def _without_the_environment_guard(code: list[str]) -> list[str]:
    """rollback.sh refuses to guess the environment: its guard block lists the choices."""
    if "if [ $# -eq 0 ]" not in "\n".join(code):
        return code
    start = next(i for i, line in enumerate(code) if line.startswith("if [ $# -eq 0 ]"))
    end = code.index("fi", start)
    return code[:start] + code[end + 1 :]


def test_rollback_without_an_environment_names_them_and_changes_nothing(
    project: Project,
) -> None:
    for args in ((), ("--dry-run",), ("--to", "1.2.3")):
        proc = run_script("rollback.sh", project, *args, env={})
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip() == (
            "error: name the environment to roll back, one of: local, production, staging "
            f"(e.g. {REPO / 'scripts' / 'rollback.sh'} staging)"
        )
        assert proc.stdout == ""


def run_script(
    script: str, project: Project, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "scripts" / script), *args],
        env={**project.env, "SHIPYARD_ROOT": str(project.path), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_setup_cicd_script_runs_the_task(project: Project, aws: MotoServer) -> None:
    proc = run_script(
        "setup-cicd.sh",
        project,
        *("--repo", "acme/gamepulse", "--environments", "staging", "--json"),
        env=aws.env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["roles"] == {
        "staging": "arn:aws:iam::123456789012:role/gamepulse-staging-deploy"
    }


@pytest.fixture
def healthy_service() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"ok 0.1.0\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_verify_script_checks_the_given_environment(project: Project, healthy_service: str) -> None:
    proc = run_script(
        "verify-deployment.sh",
        project,
        "local",
        "--url",
        healthy_service,
        "--version",
        "0.1.0",
        env={},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert healthy_service in proc.stdout
    assert "NG" not in proc.stdout


def test_rollback_script_passes_the_environment_and_flags(project: Project) -> None:
    proc = run_script("rollback.sh", project, "nowhere", "--dry-run", env={})
    # the environment reached inv: it names it in a one-line usage error
    assert proc.returncode == 2
    assert "unknown environment 'nowhere'" in proc.stderr
    assert "Traceback" not in proc.stderr


# The seeds' scripts right after scripts/bootstrap.sh: no activated venv, any directory.
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("push-to-ecr.sh", ("--dry-run", "--version", "1.2.3"), "1.2.3"),
        ("setup-cicd.sh", ("--repo", "acme/gamepulse", "--dry-run"), "acme/gamepulse"),
        ("verify-deployment.sh", ("nowhere",), "unknown environment 'nowhere'"),
        ("rollback.sh", ("nowhere", "--dry-run"), "unknown environment 'nowhere'"),
    ],
)
def test_scripts_run_without_an_activated_venv_from_any_directory(
    project: Project,
    aws: MotoServer,
    tmp_path: Any,
    script: str,
    args: tuple[str, ...],
    expect: str,
) -> None:
    assert (REPO / ".venv" / "bin" / "inv").is_file()  # what scripts/bootstrap.sh leaves
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(
        [str(REPO / "scripts" / script), *args],
        cwd=elsewhere,
        env={
            **project.env,
            **aws.env(),
            "AWS_ACCOUNT_ID": "123456789012",
            "PATH": BARE_PATH,
            "SHIPYARD_ROOT": str(project.path),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert "command not found" not in output
    assert "Traceback" not in output
    assert expect in output
    assert proc.returncode in (0, 2), output
