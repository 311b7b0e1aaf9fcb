"""Run the real CLI paused at a fault point (src/shipyard/rollout/faults.py) and act there.

    run = FaultRun(project, ["release", "--env", "local"], "before:shift")
    run.wait_paused()              # the process sits in faults.point("before:shift")
    act(run, "docker-down", docker_proxy, registry_proxy)
    result = run.finish()

The process runs in its own session (a stray Ctrl-C on pytest does not reach it) and writes
its output to files, not pipes, so a chatty process never blocks on a full pipe while paused.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from tests.conftest import VENV_BIN, Project
from tests.support.proxies import TcpProxy, UnixSocketProxy

ENV_FAULT = "SHIPYARD_FAULT"
ENV_READY = "SHIPYARD_FAULT_READY"
POLL_SECONDS = 0.02
FAULTS = ("sigint", "sigterm", "kill", "docker-down", "registry-down")
SIGNALS = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "kill": signal.SIGKILL}


class FaultRun:
    """`inv ARGS` (or `command`) in the project, with SHIPYARD_FAULT=<point>:pause."""

    def __init__(
        self,
        project: Project,
        args: Sequence[str],
        point: str,
        env_extra: dict[str, str] | None = None,
        *,
        command: Sequence[str] | None = None,
    ) -> None:
        self.point = point
        self._dir = Path(tempfile.mkdtemp(prefix="shipyard-fault-"))
        self.ready = self._dir / "ready"
        self.argv = [*(command or [str(VENV_BIN / "inv")]), *args]
        env = {**project.env, ENV_FAULT: f"{point}:pause", ENV_READY: str(self.ready)}
        env.update(env_extra or {})
        self._out = (self._dir / "stdout").open("w+")
        self._err = (self._dir / "stderr").open("w+")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=project.path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            text=True,
            start_new_session=True,
        )
        self.result: subprocess.CompletedProcess[str] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> tuple[str, str]:
        """stdout and stderr written so far."""
        return (self._dir / "stdout").read_text(), (self._dir / "stderr").read_text()

    def _describe(self, what: str) -> str:
        out, err = self.output()
        code = self.proc.poll()
        state = "still running" if code is None else f"exited {code}"
        return f"{what} ({' '.join(self.argv)}: {state})\n--- stdout\n{out}\n--- stderr\n{err}"

    def wait_paused(self, timeout: float = 120) -> str:
        """Wait until the process is paused at the point; returns what it wrote (the point).
        Raises AssertionError, with the process' output, if it exits first or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready.exists():
                return self.ready.read_text() or self.point
            if self.proc.poll() is not None:
                raise AssertionError(self._describe(f"never paused at {self.point}"))
            time.sleep(POLL_SECONDS)
        raise AssertionError(self._describe(f"not paused at {self.point} after {timeout:.0f} s"))

    @property
    def paused(self) -> bool:
        """True while the process waits at the point (the ready file is there)."""
        return self.ready.exists() and self.proc.poll() is None

    def signal(self, sig: int, *, group: bool = False) -> None:
        """Send sig to the process; group=True: to its whole process group (its docker and
        git children too), as a terminal's Ctrl-C does."""
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)

    def resume(self) -> None:
        """Let the paused process go on (remove the ready file)."""
        self.ready.unlink(missing_ok=True)

    def finish(self, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Wait for the process to exit; returns its code and output. On timeout the process
        is killed and AssertionError raised with its output."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            hint = " and still paused: resume() it?" if self.ready.exists() else ""
            message = self._describe(f"did not exit within {timeout:.0f} s{hint}")
            self._kill()
            raise AssertionError(message) from None
        out, err = self.output()
        self.result = subprocess.CompletedProcess(self.argv, self.proc.returncode, out, err)
        return self.result

    def _kill(self) -> None:
        """SIGKILL the process and wait for it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def _kill_group(self) -> None:
        """SIGKILL whatever is left in the process group (children a kill -9 orphaned)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def close(self) -> None:
        """Kill the process and what is left of its group, and remove the temp files."""
        self._kill()
        self._kill_group()
        self._out.close()
        self._err.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> FaultRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def act(
    run: FaultRun,
    fault: str,
    docker_proxy: UnixSocketProxy | None = None,
    registry_proxy: TcpProxy | None = None,
) -> None:
    """Do `fault` to a run paused at its point.

    Signals go to the process as it waits: sigint/sigterm interrupt the wait, so no resume.
    docker-down / registry-down cut the proxy the process reaches the engine / registry
    through, then resume it, so the next call after the point finds it gone.
    """
    if fault in SIGNALS:
        run.signal(SIGNALS[fault])
        return
    proxy: UnixSocketProxy | TcpProxy | None
    if fault == "docker-down":
        proxy = docker_proxy
    elif fault == "registry-down":
        proxy = registry_proxy
    else:
        raise ValueError(f"unknown fault {fault!r}: one of {', '.join(FAULTS)}")
    if proxy is None:
        raise ValueError(f"{fault} needs its proxy: the run must reach it through one")
    proxy.cut()
    run.resume()
