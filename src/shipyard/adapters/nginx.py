"""The local environment's reverse proxy: a Debian nginx that shipyard runs itself, with its own
configuration, pid file and logs in the environment's state directory.

Switching traffic rewrites one included file (upstream.conf) and asks nginx to reload
(`nginx -s reload`): the master starts workers with the new upstream and lets the old ones
finish the requests they hold, so no request is dropped. nginx itself answers
/.shipyard/release with the release it routes to, which is how a switch is confirmed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from shipyard import commands
from shipyard.adapters import nginx_state
from shipyard.adapters.ports import port_holder
from shipyard.commands import Command
from shipyard.errors import DeployFailed, ToolUnavailable, UsageError
from shipyard.fsutil import write_atomically
from shipyard.records import record

RELEASE_PATH = "/.shipyard/release"
NO_RELEASE = "none"
# nginx's own syntax (; { } # quotes, escapes) and $variables: no value written into the
# configuration may carry them, nor a control character, whatever quoting is around it
_UNSAFE = re.compile(r"[;{}#'\"\\$\x00-\x1f\x7f]")
_RELEASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def quoted(value: str, what: str) -> str:
    """`value` as one double-quoted nginx argument; refused (exit 2) when it holds anything
    nginx would read as syntax instead of text."""
    found = _UNSAFE.search(value)
    if found:
        raise UsageError(
            f"{what} {value!r} cannot be written into nginx's configuration "
            f"(it contains {found.group()!r})",
            hint="use a value without ; { } # quotes, backslashes, $ or control characters",
        )
    return f'"{value}"'


def address(host: str, port: int, what: str) -> str:
    """host:port for `listen` or `server`: an IP address (IPv6 in brackets) and a port."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"{what}: {host!r} is not an IP address") from None
    if "%" in host or isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise UsageError(f"{what}: {host!r} port {port!r} is not an address nginx can use")
    return quoted(f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}", what)


def release_token(release: str) -> str:
    if not _RELEASE.match(release):
        raise UsageError(f"release id {release!r} cannot be written into nginx's configuration")
    return release


@record
class Upstream:
    release_id: str
    host: str
    port: int


def render_main(prefix: Path, worker: nginx_state.Worker | None = None) -> str:
    """nginx.conf: everything nginx writes stays under `prefix`; as root, the workers run as
    `worker`, who owns the temp paths (nginx_state.py) and nothing else here."""

    def at(*names: str) -> str:
        return quoted(str(prefix.joinpath(*names)), "the nginx state path")

    user = f"user {worker.user} {worker.group};\n" if worker else ""
    temp = "".join(
        f"    {kind}_temp_path {at('tmp', name)};\n"
        for kind, name in nginx_state.TEMP_PATHS.items()
    )
    return f"""# written by shipyard; the routing lives in upstream.conf
{user}worker_processes 1;
daemon on;
pid {at("nginx.pid")};
error_log {at("error.log")} warn;
events {{ worker_connections 1024; }}
http {{
    access_log {at("access.log")};
{temp}    include {at("upstream.conf")};
}}
"""


def render_upstream(bind: str, port: int, upstream: Upstream | None) -> str:
    release = release_token(upstream.release_id) if upstream else NO_RELEASE
    if upstream is None:
        route = '        return 503 "no release is live in this environment\\n";'
        block = ""
    else:
        server = address(upstream.host, upstream.port, "the upstream")
        block = f"upstream shipyard_live {{\n    server {server};\n}}\n"
        route = (
            "        proxy_pass http://shipyard_live;\n"
            "        proxy_set_header Host $host;\n"
            "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "        proxy_connect_timeout 2s;\n"
            "        proxy_read_timeout 60s;"
        )
    return f"""# release {release}
{block}server {{
    listen {address(bind, port, "target.proxy_bind/proxy_port")};
    add_header X-Shipyard-Release "{release}" always;
    location = {RELEASE_PATH} {{
        default_type text/plain;
        return 200 "{release}\\n";
    }}
    location / {{
{route}
    }}
}}
"""


class NginxProxy:
    def __init__(
        self, state_dir: Path, *, bind: str, port: int, binary: str = "nginx", own: int = 3
    ) -> None:
        self.prefix = state_dir / "nginx"
        self.bind = bind
        self.port = port
        self.binary = binary
        # directories ending at the prefix that are shipyard's: .shipyard, <env>, nginx
        self.own = own
        # refused here, before anything is written or started: the checkout path and the
        # listen address go into the configuration as they are
        quoted(str(self.prefix), "the nginx state path")
        address(bind, port, "target.proxy_bind/proxy_port")
        nginx_state.check(self.prefix, own=own, who=nginx_state.worker())

    @property
    def conf(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def upstream_conf(self) -> Path:
        return self.prefix / "upstream.conf"

    @property
    def pid_file(self) -> Path:
        return self.prefix / "nginx.pid"

    @property
    def url(self) -> str:
        ip = ipaddress.ip_address(self.bind)
        if ip.is_unspecified:  # listening everywhere: this machine reaches it on loopback
            ip = ipaddress.ip_address("::1" if ip.version == 6 else "127.0.0.1")
        return f"http://[{ip}]:{self.port}" if ip.version == 6 else f"http://{ip}:{self.port}"

    # -- process ---------------------------------------------------------------------------
    def _exe(self) -> str:
        found = shutil.which(self.binary) or shutil.which(self.binary, path="/usr/sbin:/sbin")
        if not found:
            raise ToolUnavailable(
                f"{self.binary} is not installed",
                hint="run scripts/bootstrap.sh (apt-get install nginx)",
            )
        return found

    def command(self, *args: str) -> Command:
        """nginx with this proxy's prefix, config and error log (commands.nginx)."""
        return commands.nginx(self.binary, self.prefix, self.conf, *args)

    def reload_command(self) -> Command:
        return commands.nginx_reload(self.binary, self.prefix, self.conf)

    def _run(self, cmd: Command) -> subprocess.CompletedProcess[str]:
        """Run `cmd`, its first word resolved as _exe() finds the binary."""
        argv = [self._exe(), *cmd.argv[1:]]
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
        except subprocess.TimeoutExpired:
            shown = " ".join(cmd.argv[7:])
            raise ToolUnavailable(f"nginx {shown} did not finish in 20s") from None

    def pid(self) -> int | None:
        """The master's pid when our nginx runs (checked against its command line)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
        except OSError:
            return None
        return pid if str(self.conf) in cmdline else None

    @staticmethod
    def _workers(master: int | None) -> set[int]:
        """Pids of the master's children that still accept connections (not shutting down)."""
        if master is None:
            return set()
        found: set[int] = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            fields = text.rsplit(")", 1)[-1].split()
            if len(fields) > 1 and fields[1] == str(master):
                found.add(int(stat.parent.name))
        return found

    def running(self) -> bool:
        return self.pid() is not None

    def adopt(self) -> bool:
        """Our own nginx still runs though its pid file is gone (the state directory was
        removed): write the pid file again so it can be reloaded. True if adopted."""
        if self.running():
            return True
        holder = port_holder(self.port)
        if holder is None or str(self.conf) not in holder.cmdline:
            return False
        self._prepare_dirs()
        write_atomically(self.pid_file, f"{holder.pid}\n")
        return self.running()

    def refuse_if_taken(self) -> None:
        """Before starting nginx: one line naming whoever holds the port, and what to do."""
        holder = port_holder(self.port)
        if holder is None:
            return
        fix = "give this environment another target.proxy_port"
        conf = Path(holder.nginx_conf) if holder.nginx_conf else None
        if conf is not None and conf.parent.parent.parent.name == ".shipyard":
            # another checkout's (or project's) proxy: stopping it would take its service down
            fix = f"it is the proxy of the shipyard checkout {conf.parents[3]}: {fix}"
        else:
            fix = f"stop that process or {fix}"
        raise ToolUnavailable(f"{self.bind}:{self.port} is taken by {holder.describe()}", hint=fix)

    def _prepare_dirs(self) -> nginx_state.Worker | None:
        worker = nginx_state.worker()
        nginx_state.prepare(self.prefix, own=self.own, who=worker)
        return worker

    def _prepare_files(self) -> None:
        worker = self._prepare_dirs()
        write_atomically(self.conf, render_main(self.prefix, worker))

    def _check(self) -> None:
        proc = self._run(self.command("-t", "-q"))
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
            raise DeployFailed(
                f"nginx rejected {self.upstream_conf}: {lines[-1] if lines else 'unknown error'}"
            )

    def ensure_started(self, upstream: Upstream | None) -> bool:
        """Start nginx routing to `upstream` unless it runs already; True if started."""
        if self.running():
            return False
        self._prepare_files()
        write_atomically(self.upstream_conf, render_upstream(self.bind, self.port, upstream))
        self._check()
        self.refuse_if_taken()
        proc = self._run(self.command())
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
            detail = lines[-1] if lines else f"exit {proc.returncode}"
            raise ToolUnavailable(f"cannot start nginx: {detail}")
        self.wait_serving(upstream.release_id if upstream else NO_RELEASE)
        return True

    def switch(
        self,
        upstream: Upstream | None,
        *,
        timeout: float = 10.0,
        on_written: Callable[[], None] | None = None,
    ) -> None:
        """Route to `upstream` (None: answer 503) and return once nginx confirms it.
        `on_written` runs between writing the routing and reloading nginx."""
        if not self.running():
            self.ensure_started(upstream)
            return
        previous = self.upstream_conf.read_text() if self.upstream_conf.exists() else None
        self._prepare_files()
        write_atomically(self.upstream_conf, render_upstream(self.bind, self.port, upstream))
        try:
            self._check()
        except DeployFailed:
            if previous is not None:
                write_atomically(self.upstream_conf, previous)
            raise
        if on_written is not None:
            on_written()
        master = self.pid()
        old_workers = self._workers(master)
        proc = self._run(self.reload_command())
        if proc.returncode != 0:
            raise DeployFailed(f"nginx reload failed: {(proc.stderr or '').strip()[-200:]}")
        self.wait_serving(upstream.release_id if upstream else NO_RELEASE, timeout=timeout)
        # Until the old workers have closed their listening sockets they may still accept a
        # connection and route it the old way; the switch is complete once they are gone (they
        # finish the requests they hold first, so this never cuts one off).
        deadline = time.monotonic() + timeout
        while old_workers & self._workers(master) and time.monotonic() < deadline:
            time.sleep(0.02)

    def serving(self, timeout: float = 2.0) -> str | None:
        """The release nginx routes to right now (asked over HTTP), None if it does not answer."""
        import urllib.error  # here: `inv status` with no proxy running never asks
        import urllib.request

        try:
            with urllib.request.urlopen(self.url + RELEASE_PATH, timeout=timeout) as resp:  # noqa: S310
                return str(resp.read().decode().strip())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def wait_serving(self, release: str, *, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        seen: str | None = None
        while time.monotonic() < deadline:
            seen = self.serving()
            if seen == release:
                return
            time.sleep(0.05)
        raise DeployFailed(
            f"nginx did not start routing to {release} within {timeout:.0f}s (it answers {seen!r})",
            hint=f"see {self.prefix / 'error.log'}",
        )

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop our nginx (graceful quit, then TERM); True if one was running."""
        pid = self.pid()
        if pid is None:
            return False
        self._run(self.command("-s", "quit"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists():
                return True
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        return True

    def routed_release(self) -> str | None:
        """The release upstream.conf routes to (what nginx serves once it has reloaded)."""
        try:
            first = self.upstream_conf.read_text().splitlines()[0]
        except (OSError, IndexError):
            return None
        release = first.removeprefix("# release ").strip()
        return None if release == NO_RELEASE else release
