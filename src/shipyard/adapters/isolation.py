"""Keep the local target's containers away from other hosts on Docker < 28.

Before 28, Docker DNATs a port published on 127.0.0.1 for packets from any interface (nat
PREROUTING `-d 127.0.0.1 ! -i <bridge>`) and its DOCKER chain accepts forwarded traffic to
the container's port; with ip_forward on (Docker turns it on), a neighbour that routes
127.0.0.1 or the bridge's subnet through this machine reaches the container directly, past
nginx. Docker 28 drops those packets itself. For older engines shipyard adds, per container
port, one rule to DOCKER-USER (the chain Docker leaves to the administrator and consults
before its own): drop what enters the stack's bridge for that port from any other interface.
This machine's own connections (nginx, health checks, docker-proxy) are not forwarded and
never meet it. Rules are tagged with a comment naming the stack; a rule whose bridge is gone
is removed by the next apply, whichever stack it was for.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from shipyard.commands import Command, iptables
from shipyard.errors import ToolUnavailable

FIXED_IN = 28  # the first Docker major version that drops these packets itself
CHAIN = "DOCKER-USER"
TAG = "shipyard"
_BRIDGE = re.compile(r"(?:^| )-o (\S+)")


def needed(engine_version: str) -> bool:
    """Whether the engine (its `docker version` server version) forwards such packets."""
    found = re.match(r"\d+", engine_version)
    return found is None or int(found.group()) < FIXED_IN


class Isolation:
    def __init__(
        self, stack: str, *, engine_version: Callable[[], str], binary: str = "iptables"
    ) -> None:
        self.stack = stack
        self.engine_version = engine_version
        self.binary = binary

    @property
    def comment(self) -> str:
        return f"{TAG} {self.stack}"[:250]  # iptables keeps at most 255 characters

    def needed(self) -> bool:
        return needed(self.engine_version())

    def rule(self, bridge: str, port: int) -> list[str]:
        return [
            *("-o", bridge, "!", "-i", bridge, "-p", "tcp", "--dport", str(port)),
            *("-m", "comment", "--comment", self.comment, "-j", "DROP"),
        ]

    def insert(self, bridge: str, port: int) -> Command:
        """The command that puts the rule for `port` on `bridge` first in the chain."""
        return iptables(self.binary, "-I", CHAIN, "1", *self.rule(bridge, port))

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run_command(iptables(self.binary, *args))

    def _run_command(self, cmd: Command) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                list(cmd.argv),
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except FileNotFoundError:
            raise self._refusal("iptables is not installed") from None
        except subprocess.TimeoutExpired:
            raise self._refusal("iptables did not answer in 30s") from None

    def _refusal(self, why: str) -> ToolUnavailable:
        return ToolUnavailable(
            f"Docker {self.engine_version()} forwards other hosts' packets to the ports this "
            f"environment publishes on 127.0.0.1, and shipyard cannot add the {CHAIN} rule "
            f"that stops them: {why}",
            hint="run shipyard as root (apt-get install iptables), or use Docker 28 or later",
        )

    def _ok(self, proc: subprocess.CompletedProcess[str]) -> str:
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
            raise self._refusal(lines[-1] if lines else f"iptables exited {proc.returncode}")
        return proc.stdout

    def check(self) -> None:
        """Before anything starts: the rule can be added here (root, iptables, the chain)."""
        if self.needed():
            self._ok(self._run("-S", CHAIN))

    def apply(self, bridge: str, ports: Iterable[int]) -> None:
        """Drop forwarded packets to `ports` on `bridge` from other interfaces (idempotent)."""
        if not self.needed():
            return
        self.prune()
        for port in sorted(set(ports)):
            spec = self.rule(bridge, port)
            if self._run("-C", CHAIN, *spec).returncode != 0:
                self._ok(self._run_command(self.insert(bridge, port)))

    def rules(self, *, any_stack: bool = False) -> list[list[str]]:
        """The specs of the tagged rules in the chain: this stack's, or every shipyard's."""
        if not self.needed():
            return []
        found = []
        for line in self._ok(self._run("-S", CHAIN)).splitlines():
            words = shlex.split(line)
            if words[:2] != ["-A", CHAIN] or "--comment" not in words:
                continue
            comment = words[words.index("--comment") + 1]
            if comment == self.comment or (any_stack and comment.startswith(f"{TAG} ")):
                found.append(words[2:])
        return found

    def remove(self) -> int:
        """Remove this stack's rules; how many there were."""
        specs = self.rules()
        for spec in specs:
            self._run("-D", CHAIN, *spec)
        return len(specs)

    def prune(self) -> None:
        """Rules whose bridge no longer exists (its network was removed) match nothing: drop
        them so they do not pile up. A bridge that exists is never touched."""
        for spec in self.rules(any_stack=True):
            bridge = _BRIDGE.search(" ".join(spec))
            if bridge and not Path("/sys/class/net", bridge.group(1)).exists():
                self._run("-D", CHAIN, *spec)
