"""Tools run as child processes with their output streamed as it comes (nox sessions,
hadolint), and where to find them: on PATH, or next to this interpreter (the project's
virtualenv, where `pip install` puts them even when its bin is not on PATH)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from shipyard.commands import Command
from shipyard.errors import ToolUnavailable

TAIL_LINES = 20


def find_tool(name: str) -> str | None:
    """`name` on PATH, or next to this interpreter."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else None


def stream(
    cmd: Command, *, cwd: Path, env: Mapping[str, str], echo: Callable[[str], None]
) -> tuple[int, list[str]]:
    """Run `cmd` in `cwd` with exactly `env`, each output line (stdout and stderr merged) to
    `echo` as it comes; its exit code and its last lines. On Ctrl-C or any exception the
    child is killed and reaped before it propagates."""
    tail: list[str] = []
    try:
        proc = subprocess.Popen(
            list(cmd.argv),
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
    except OSError as exc:
        raise ToolUnavailable(f"cannot start {cmd.argv[0]}: {exc.strerror}") from None
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            tail = [*tail[-(TAIL_LINES - 1) :], line]
            echo(line)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc.wait(), tail


def captured(cmd: Command, *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run `cmd` in `cwd` to its end, output captured; ToolUnavailable past `timeout`."""
    try:
        return subprocess.run(
            list(cmd.argv), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except OSError as exc:
        raise ToolUnavailable(f"cannot start {cmd.argv[0]}: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        name = Path(cmd.argv[0]).name
        raise ToolUnavailable(f"{name} did not finish within {timeout:.0f}s") from None
