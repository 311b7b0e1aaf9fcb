"""Named fault points: inert unless SHIPYARD_FAULT names one, so a test can stop, signal or
kill the process at an exact place of a rollout (the idea of FoundationDB's and TiKV's
failpoints: the matrix of point x fault is the reliability spec).

    SHIPYARD_FAULT="<point>:<action>[,<point>:<action>...]"

Points are `before:<phase>`, `after:<phase>` and `inside:<phase>` (a target's own mark in the
middle of a phase, e.g. between writing nginx's routing and reloading it). Actions:

- `pause`: write the file SHIPYARD_FAULT_READY names (its content is the point), then wait until
  a test removes it. While paused the test may signal the process or cut an engine away.
- `kill`: SIGKILL this process (no cleanup runs: the next command must recover).
- `sigint` / `sigterm`: deliver that signal to this process, as a user or CI would.
- `fail`: raise a DeployFailed naming the point.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from shipyard.errors import DeployFailed

ENV_FAULT = "SHIPYARD_FAULT"
ENV_READY = "SHIPYARD_FAULT_READY"
POLL_SECONDS = 0.02


def _actions(point: str) -> list[str]:
    spec = os.environ.get(ENV_FAULT, "")
    if not spec:
        return []
    found = []
    for item in spec.split(","):
        name, _, action = item.strip().rpartition(":")
        if name == point:
            found.append(action)
    return found


def point(name: str) -> None:
    """A fault point; does nothing unless SHIPYARD_FAULT names it."""
    for action in _actions(name):
        _act(name, action)


def _act(name: str, action: str) -> None:
    if action == "pause":
        _pause(name)
    elif action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "sigint":
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # the handler raises here
    elif action == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
    elif action == "fail":
        raise DeployFailed(f"fault injected at {name}")


def _pause(name: str) -> None:
    ready = os.environ.get(ENV_READY)
    if not ready:
        return
    path = Path(ready)
    # whole or absent: a test polling for the file must never read it half-written
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_text(name)
    os.rename(partial, path)  # not os.replace: tests wrap that one to pause inside it
    while path.exists():
        time.sleep(POLL_SECONDS)
