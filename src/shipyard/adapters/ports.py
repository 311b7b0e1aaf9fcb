"""Who listens on a TCP port of this machine, read from /proc (Linux): the socket's inode in
/proc/net/tcp{,6}, then the process holding a descriptor to it. Used to name the holder of a
proxy port in one line instead of nginx's "could not bind()". And a free port to publish a
container on."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from shipyard.records import record

LISTEN = "0A"


@record
class PortHolder:
    pid: int
    cmdline: str

    def _option(self, flag: str) -> str | None:
        """The value after `flag` on the command line (nginx's -c CONF, -p PREFIX)."""
        words = self.cmdline.split()
        found = [words[i + 1] for i, w in enumerate(words[:-1]) if w == flag]
        return found[0] if found else None

    @property
    def nginx_conf(self) -> str | None:
        """The configuration file of an nginx master, whole (a long path is never cut)."""
        return self._option("-c") if "nginx" in self.cmdline else None

    def describe(self) -> str:
        conf = self.nginx_conf
        if conf:
            return f"process {self.pid} (nginx master, config {conf})"
        return f"process {self.pid} ({self.cmdline[:160]})"


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == LISTEN:
                    local_port = int(fields[1].rsplit(":", 1)[1], 16)
                    if local_port == port:
                        inodes.add(fields[9])
    return inodes


def _owner(inodes: set[str]) -> PortHolder | None:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    candidates: list[PortHolder] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    raw = (proc / "cmdline").read_bytes()
                    cmdline = raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()
                    candidates.append(PortHolder(int(proc.name), cmdline))
                    break
    if not candidates:
        return None
    # nginx's master and its workers share the socket: name the master (whose parent is not
    # one of them), not a worker whose pid happens to be lower after a wrap-around
    pids = {h.pid for h in candidates}
    roots = [h for h in candidates if _parent(h.pid) not in pids]
    return min(roots or candidates, key=lambda h: h.pid)


def _parent(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
        return int(fields[1])
    except (OSError, IndexError, ValueError):
        return None


def port_holder(port: int) -> PortHolder | None:
    """The process listening on TCP `port` (on any address), or None."""
    inodes = _listening_inodes(port)
    return _owner(inodes) if inodes else None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port of `host` nobody listens on right now, from the kernel's ephemeral range
    (where Docker's own choices come from). A caller that then fails to bind it tries again."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
