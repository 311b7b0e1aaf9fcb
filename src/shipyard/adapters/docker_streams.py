"""The docker CLI for what streams through a terminal: `docker logs` (several containers
merged, --follow until Ctrl-C), `docker exec` into a running container, and a one-off
container (`docker create` + `docker start --attach`, removed afterwards).

The commands are built in container_run.py (what a plan shows is what runs). These run the
CLI directly with the terminal passed through (stdin, a TTY when there is one),
which python-on-whales' captured calls cannot do. Exit codes are Docker's, which are the
command's: docker exec and docker start --attach end with the command's status (126/127 when
it cannot be started at all).
"""

from __future__ import annotations

import contextlib
import queue
import subprocess
import threading
from collections.abc import Iterator, Sequence
from typing import TextIO

from shipyard import container_run
from shipyard.commands import Command
from shipyard.errors import ToolUnavailable

ENGINE_HINT = "start it with scripts/bootstrap.sh (or `dockerd &` as root) and try again"


def _popen(cmd: Command, **kwargs: object) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(list(cmd.argv), **kwargs)  # type: ignore[call-overload, no-any-return]
    except FileNotFoundError:
        raise ToolUnavailable(
            "the docker command is not installed", hint="run scripts/bootstrap.sh"
        ) from None


def attached(cmd: Command, *, stdout: TextIO | None = None) -> int:
    """Run `cmd` with this terminal's stdin (and stdout, or `stdout`); its exit code. On
    Ctrl-C the child gets it as well (one process group) and is waited for."""
    proc = _popen(cmd, stdout=stdout)
    try:
        return proc.wait()
    except BaseException:
        _end(proc)
        raise


def quiet(cmd: Command, timeout: float = 120) -> tuple[int, str]:
    """Run `cmd` capturing its output: (exit code, last line of its stderr)."""
    argv = cmd.argv
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise ToolUnavailable(
            "the docker command is not installed", hint="run scripts/bootstrap.sh"
        ) from None
    except subprocess.TimeoutExpired:
        raise ToolUnavailable(f"{' '.join(argv[:3])} did not finish", hint=ENGINE_HINT) from None
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return proc.returncode, lines[-1] if lines else ""


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- logs -------------------------------------------------------------------------------------
def docker_logs(
    sources: Sequence[tuple[str, str]], *, since: str | None, follow: bool
) -> Iterator[tuple[str, str]]:
    """(label, line) of each (label, container name) in `sources`: one container after the
    other, or all at once as their lines come when following."""
    if follow:
        yield from _merged(sources, since=since, follow=True)
        return
    for source in sources:
        yield from _merged([source], since=since, follow=False)


def _merged(
    sources: Sequence[tuple[str, str]], *, since: str | None, follow: bool
) -> Iterator[tuple[str, str]]:
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for label, name in sources:
            # the container's stderr comes on docker's: both are its log
            proc = _popen(
                container_run.docker_logs(name, since=since, follow=follow),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            procs.append((label, proc))
            threading.Thread(target=_read, args=(label, proc, lines), daemon=True).start()
        left = len(procs)
        while left:
            # a timeout, so Ctrl-C is seen while no line comes
            with contextlib.suppress(queue.Empty):
                label, line = lines.get(timeout=0.5)
                if line is None:
                    left -= 1
                else:
                    yield label, line
    finally:
        for _, proc in procs:
            _end(proc)


def _read(
    label: str, proc: subprocess.Popen[bytes], lines: queue.Queue[tuple[str, str | None]]
) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        lines.put((label, raw.decode("utf-8", "replace").rstrip("\r\n")))
    lines.put((label, None))
