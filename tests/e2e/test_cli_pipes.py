"""Output piped into a reader that stops early (`| head`) ends the command quietly."""

from __future__ import annotations

import subprocess

from tests.conftest import VENV_BIN, Project


def test_a_closed_pipe_is_not_an_error(project: Project) -> None:
    proc = subprocess.run(
        ["bash", "-c", f"{VENV_BIN}/inv build --dry-run | head -c 1 >/dev/null; sleep 0.2"],
        cwd=project.path,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "BrokenPipe" not in proc.stderr
    assert "error" not in proc.stderr.lower()
