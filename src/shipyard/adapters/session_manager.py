"""The AWS Session Manager plugin, which carries an ECS Exec session (an OS binary, not a
Python package), and the exit status of the command run through it.

The plugin is started as the AWS CLI starts it (awscli/customizations/ecs/executecommand.py):
the session execute_command returned, the region, StartSession, the profile, the target
`ecs:<cluster>_<task id>_<container runtime id>` and the ECS endpoint. Ctrl-C is left to the
plugin, which hands it to the remote command.

ECS Exec does not report the remote command's exit status: the plugin ends 0 either way
(aws/amazon-ecs-agent#2846, aws/session-manager-plugin#59). So the command runs under
/bin/sh in the container, which prints a marker with the status after it; the marker is cut
out of the output as it streams by (`ExitMarker`) and its number is the exit code.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from shipyard.errors import ToolUnavailable
from shipyard.secrets import register

PLUGIN = "session-manager-plugin"
INSTALL_URL = (
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/"
    "session-manager-working-with-install-plugin.html"
)


def find_plugin(environ: Mapping[str, str]) -> str:
    """The plugin's path; ToolUnavailable with how to install it when it is not on PATH."""
    found = shutil.which(PLUGIN, path=environ.get("PATH"))
    if found is None:
        raise ToolUnavailable(
            f"inv exec on ECS needs the AWS Session Manager plugin ({PLUGIN}), which is not "
            "on PATH",
            hint=f"install it as {INSTALL_URL} shows (Debian/Ubuntu: its "
            "session-manager-plugin.deb, then `sudo dpkg -i session-manager-plugin.deb`)",
        )
    return found


def wrapped(command: Sequence[str], nonce: str) -> str:
    """ECS Exec's command string: `command` under /bin/sh, followed by the exit marker."""
    inner = f"{shlex.join(command)}; printf '{_marker_text(nonce)}%s__\\n' \"$?\""
    return f"/bin/sh -c {shlex.quote(inner)}"


def new_nonce() -> str:
    return secrets.token_hex(4)


def _marker_text(nonce: str) -> str:
    return f"__shipyard_exit_{nonce}_"


def plugin_argv(
    plugin: str,
    answer: Mapping[str, Any],
    *,
    region: str,
    profile: str | None,
    runtime_id: str,
    endpoint: str,
) -> list[str]:
    """How the AWS CLI starts the plugin for execute_command's `answer`."""
    session = dict(answer.get("session") or {})
    register(str(session.get("tokenValue") or ""))  # a credential: never printed
    cluster = str(answer.get("clusterArn", "")).rsplit("/", 1)[-1]
    task = str(answer.get("taskArn", "")).rsplit("/", 1)[-1]
    target = {"Target": f"ecs:{cluster}_{task}_{runtime_id}"}
    return [
        plugin,
        json.dumps(session),
        region,
        "StartSession",
        profile or "",
        json.dumps(target),
        endpoint,
    ]


@contextmanager
def _interrupts_to_the_session() -> Iterator[None]:
    """Ctrl-C, Ctrl-\\ and Ctrl-Z reach the plugin (the same process group) and through it
    the remote command; this process must not die of them meanwhile."""
    kept = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGQUIT)}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            signal.signal(sig, handler)


def run_session(
    argv: Sequence[str], nonce: str, write: Callable[[bytes], None]
) -> tuple[int, int | None]:
    """Run the plugin, passing the session's output to `write` without the marker: (the
    plugin's exit code, the remote command's exit status or None when no marker came: no
    /bin/sh there, or the session broke)."""
    marker = ExitMarker(nonce)
    with _interrupts_to_the_session():
        try:
            proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE)
        except OSError as exc:
            raise ToolUnavailable(f"cannot start {PLUGIN}: {exc.strerror}") from None
        assert proc.stdout is not None
        while chunk := os.read(proc.stdout.fileno(), 65536):
            write(marker.feed(chunk))
        write(marker.close())
        plugin_code = proc.wait()
    return plugin_code, marker.code


class ExitMarker:
    """Cuts `__shipyard_exit_<nonce>_<status>__` (and its line end) out of a byte stream that
    arrives in arbitrary chunks; what could be the start of a marker is held back until the
    next chunk tells."""

    def __init__(self, nonce: str) -> None:
        text = re.escape(_marker_text(nonce).encode())
        self._found = re.compile(text + rb"(\d{1,3})__(?:\r?\n)?")
        self._prefix = _marker_text(nonce).encode()
        self._partial = re.compile(text + rb"\d{0,3}_{0,2}\r?")
        self._held = b""
        self.code: int | None = None

    def feed(self, data: bytes) -> bytes:
        buf = self._cut(self._held + data, final=False)
        keep = self._tail(buf)
        self._held = buf[len(buf) - keep :] if keep else b""
        return buf[: len(buf) - keep]

    def close(self) -> bytes:
        rest, self._held = self._cut(self._held, final=True), b""
        return rest

    def _cut(self, buf: bytes, *, final: bool) -> bytes:
        found = self._found.search(buf)
        while found:
            end = found.end()
            # complete once its line end came, or something else follows it
            if not (final or buf[end - 1 : end] == b"\n" or buf[end:] not in (b"", b"\r")):
                break  # held back by _tail until the next chunk
            self.code = int(found.group(1))
            buf = buf[: found.start()] + buf[end:]
            found = self._found.search(buf, found.start())
        return buf

    def _tail(self, buf: bytes) -> int:
        """How many bytes at the end of `buf` may be a marker still arriving."""
        start = buf.find(b"_", max(0, len(buf) - 64))
        while start != -1:
            tail = buf[start:]
            if self._prefix.startswith(tail) or self._partial.fullmatch(tail):
                return len(tail)
            start = buf.find(b"_", start + 1)
        return 0
