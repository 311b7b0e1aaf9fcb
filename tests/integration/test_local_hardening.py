"""The local environment's security boundaries, against the real CLI, engine, nginx and kernel.

1. Nothing reaches nginx's configuration (written and loaded by root) unvalidated: a hostile
   value of any key, or a checkout path nginx would read as syntax, ends `inv release` with
   exit 2 and one line before anything is built, started or written under .shipyard/local/nginx.
2. nginx's worker user cannot take over a path the root master opens: it cannot rename or
   replace its temp directories, and a reload never chowns what a planted symlink names.
3. The containers' published ports are reachable from this machine only: from another network
   namespace (a neighbour routing through this host) neither the container's bridge address
   nor 127.0.0.1 routed here answers, while nginx on proxy_bind:proxy_port serves.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.adapters import isolation as iso
from shipyard.adapters.nginx import Upstream, quoted, render_main, render_upstream
from shipyard.errors import UsageError
from tests.conftest import VENV_BIN, Project
from tests.support.localenv import LocalEnv, local_env, make_local_env

__all__ = ["local_env"]  # the fixture these tests use

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.nginx]

LOCAL_TOML = "deploy/environments/local.toml"
ROOT_ONLY = pytest.mark.skipif(
    os.geteuid() != 0, reason="the boundary exists only when shipyard, hence nginx, is root"
)
WORKER = "nobody"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    return lines[0]


def nothing_happened(project: Project) -> None:
    """No nginx state, no image built, no container started for the project."""
    assert not (project.path / ".shipyard" / "local" / "nginx").exists()
    images = docker("image", "ls", "--format", "{{.Repository}}").split()
    assert not [i for i in images if i.rsplit("/", 1)[-1] == project.repository], images
    names = docker("ps", "-a", "--format", "{{.Names}}").split()
    assert not [n for n in names if n.startswith(project.repository)], names


# -- 1. nginx directive injection ------------------------------------------------------------
HOSTILE = [
    ("proxy_bind", '"127.0.0.1:18997; location /loot/ { alias /; autoindex on; } #"', "IP"),
    ("proxy_bind", '"::1%x;}server{listen 127.0.0.1:18998;}#"', "scope"),
    ("proxy_bind", '"localhost"', "IP address"),
    ("proxy_port", "0", "proxy_port"),
    ("proxy_port", "65536", "proxy_port"),
    ("proxy_port", '"8080; include /etc/shadow"', "proxy_port"),
    ("nginx", '"nginx -g daemon"', "target.nginx"),
    ("nginx", '"/usr/sbin/nginx;id"', "target.nginx"),
    ("stack", '"x;}#"', "target.stack"),
    ("network", '"n{e}t"', "target.network"),
]


@pytest.mark.parametrize(
    ("key", "value", "named"), HOSTILE, ids=[f"{k}={v}" for k, v, _ in HOSTILE]
)
def test_a_hostile_value_is_refused_before_anything(
    project: Project, registry_password: str, key: str, value: str, named: str
) -> None:
    path = project.path / LOCAL_TOML
    text = path.read_text()
    if f"\n{key} = " in text:
        lines = [
            f"{key} = {value}" if ln.startswith(f"{key} = ") else ln for ln in text.split("\n")
        ]
        text = "\n".join(lines)
    else:
        text = text.replace('kind = "local"\n', f'kind = "local"\n{key} = {value}\n')
    path.write_text(text)
    project.commit("hostile")
    line = one_error_line(project.inv("release", "--env", "local", timeout=120))
    assert named in line, line
    nothing_happened(project)


def test_a_checkout_path_nginx_would_parse_is_refused(
    tmp_path: Path, registry_password: str
) -> None:
    base = tmp_path / "co;x{y}#"
    base.mkdir()
    env = make_local_env(base)
    try:
        for task in (("release", "--env", "local"), ("deploy", "--env", "local")):
            line = one_error_line(env.project.inv(*task, timeout=120))
            assert "cannot be written into nginx's configuration" in line, line
            assert "';'" in line, line
        nothing_happened(env.project)
    finally:
        env.teardown()


def test_every_interpolated_value_is_quoted_or_refused() -> None:
    """The serializer itself: values that would be syntax are refused, the rest quoted."""
    for bad in ("a;b", "a{b", "a}b", 'a"b', "a'b", "a\nb", "a#b", "a$host", "a\\b", "a\x00"):
        with pytest.raises(UsageError):
            quoted(bad, "value")
    assert quoted("/srv/my checkout/x", "v") == '"/srv/my checkout/x"'
    with pytest.raises(UsageError):
        render_upstream("127.0.0.1", 80, Upstream("r1;}", "127.0.0.1", 1234))
    with pytest.raises(UsageError):
        render_upstream("127.0.0.1", 80, Upstream("r1", "127.0.0.1;x", 1234))
    with pytest.raises(UsageError):
        render_upstream("127.0.0.1", 0, None)
    with pytest.raises(UsageError):
        render_main(Path("/srv/a;b"))
    assert 'listen "[::1]:8081";' in render_upstream("::1", 8081, None)


# -- 2. the worker user cannot take over a path root opens -----------------------------------
@pytest.fixture
def open_base() -> Iterator[Path]:
    """A directory the worker user can pass through (tmp_path is root's 0700): without it the
    attack below could not even start, and the test would prove nothing."""
    base = Path(tempfile.mkdtemp(prefix="shipyard-hardening-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def open_env(open_base: Path, registry_password: str) -> Iterator[LocalEnv]:
    (open_base / "co").mkdir(mode=0o755)
    env = make_local_env(open_base / "co")
    for d in (env.project.path, *env.project.path.parents):
        if d == open_base.parent:
            break
        d.chmod(0o755)
    try:
        yield env
    finally:
        env.teardown()


def as_worker(script: str) -> list[str]:
    """Run a shell script as the worker user; the exit status of each line, in order."""
    proc = subprocess.run(
        ["/bin/sh", "-c", script], user=WORKER, capture_output=True, text=True, check=False
    )
    return proc.stdout.split()


def nginx_argv(env: LocalEnv, *args: str) -> list[str]:
    nx = env.state / "nginx"
    return [
        "nginx",
        "-p",
        str(nx),
        "-c",
        str(nx / "nginx.conf"),
        "-e",
        str(nx / "error.log"),
        *args,
    ]


def worker_uids(env: LocalEnv) -> set[int]:
    master = int((env.state / "nginx" / "nginx.pid").read_text())
    uids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if stat.read_text().rsplit(")", 1)[-1].split()[1] == str(master):
                status = (stat.parent / "status").read_text()
                uids.add(
                    int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1])
                )
    return uids


def root_file(base: Path) -> Path:
    target = base / "root-owned"
    target.write_text("only root may own this\n")
    target.chmod(0o644)
    return target


@ROOT_ONLY
def test_the_worker_cannot_replace_its_temp_dirs(open_env: LocalEnv, open_base: Path) -> None:
    env = open_env
    env.project.inv("release", "--env", "local", check=True, timeout=180)
    nobody = pwd.getpwnam(WORKER)
    assert worker_uids(env) == {nobody.pw_uid}, "nginx's workers run as the user named here"
    nx = env.state / "nginx"
    tmp = nx / "tmp"
    for d, uid, mode in [(nx, 0, 0o755), (tmp, 0, 0o755)] + [
        (tmp / n, nobody.pw_uid, 0o700) for n in ("client", "proxy", "fastcgi", "uwsgi", "scgi")
    ]:
        st = d.lstat()
        assert (st.st_uid, st.st_mode & 0o7777) == (uid, mode), (d, st.st_uid, oct(st.st_mode))
    target = root_file(open_base)

    statuses = as_worker(
        f"""cd {tmp} || exit 9
        mv client gone; echo $?
        ln -s {target} client2; echo $?
        rmdir client; echo $?
        ln -s {target} {nx}/nginx.pid.new; echo $?
        touch client/mine; echo $?"""
    )
    assert statuses == ["1", "1", "1", "1", "0"], statuses  # only its own dir is writable
    for args in (("-t", "-q"), ("-s", "reload")):
        subprocess.run(nginx_argv(env, *args), check=True, capture_output=True)
    env.project.inv("release", "--env", "local", "--bump", "patch", check=True, timeout=180)
    assert target.stat().st_uid == 0
    assert (tmp / "client").lstat().st_uid == nobody.pw_uid
    assert (tmp / "client").is_dir()
    assert env.version() == "0.1.1"


@ROOT_ONLY
def test_a_planted_symlink_from_an_old_layout_is_never_followed(
    open_env: LocalEnv, open_base: Path
) -> None:
    """What the earlier 1777 tmp/ allowed: the worker replaced tmp/client with a symlink to a
    root-owned file and tmp/proxy with one to a root-owned directory. The next release must
    remove them, not chown what they name."""
    env = open_env
    nobody = pwd.getpwnam(WORKER)
    tmp = env.state / "nginx" / "tmp"
    tmp.mkdir(parents=True)
    tmp.chmod(0o1777)
    target = root_file(open_base)
    target_dir = open_base / "root-dir"
    target_dir.mkdir(mode=0o755)
    for name, points in (("client", target), ("proxy", target_dir)):
        (tmp / name).symlink_to(points)
        os.lchown(tmp / name, nobody.pw_uid, nobody.pw_gid)
    env.project.inv("release", "--env", "local", check=True, timeout=180)
    assert target.stat().st_uid == 0
    assert target_dir.stat().st_uid == 0
    assert (tmp.lstat().st_mode & 0o7777, tmp.lstat().st_uid) == (0o755, 0)
    for name in ("client", "proxy"):
        st = (tmp / name).lstat()
        assert not (tmp / name).is_symlink(), name
        assert st.st_uid == nobody.pw_uid, name
    assert env.version() == "0.1.0"


@ROOT_ONLY
def test_a_checkout_others_can_write_is_refused(open_env: LocalEnv) -> None:
    env = open_env
    env.project.path.parent.chmod(0o777)  # anyone could rename the checkout's entries
    line = one_error_line(env.project.inv("release", "--env", "local", timeout=120))
    assert f"{env.project.path.parent} (mode 0777" in line, line
    nothing_happened(env.project)


# -- 3. published ports are not reachable from another host ----------------------------------
@dataclass
class Neighbour:
    """A network namespace wired to this host by a veth pair, routing everything (127.0.0.1
    included, as a hostile neighbour on the LAN can) through the host's end."""

    name: str
    host_ip: str
    ns_ip: str

    def connect(self, host: str, port: int) -> str:
        """From the namespace: 'open <first line>' when an HTTP GET answers, else 'closed'."""
        probe = (
            "import socket,sys\n"
            "try:\n"
            f"    s=socket.create_connection(('{host}',{port}),timeout=2)\n"
            "    s.sendall(b'GET /version HTTP/1.0\\r\\n\\r\\n'); s.settimeout(2)\n"
            "    print('open', s.recv(200).split(b'\\r\\n')[0].decode())\n"
            "except OSError as e: print('closed', e)\n"
        )
        argv = ["ip", "netns", "exec", self.name, str(VENV_BIN / "python"), "-c", probe]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _free_net() -> ipaddress.IPv4Network:
    """A /30 of 198.18.0.0/15 (reserved for benchmarking) that no route of this host touches."""
    out = subprocess.run(["ip", "-j", "route"], capture_output=True, text=True, check=True).stdout
    used = [
        ipaddress.ip_network(r["dst"], strict=False)
        for r in json.loads(out)
        if r["dst"][0].isdigit()
    ]
    rng = random.Random()  # noqa: S311 - picks a test network, not a secret
    base = int(ipaddress.IPv4Address("198.18.0.0"))
    for _ in range(100):
        net = ipaddress.IPv4Network((base + 4 * rng.randrange(2**15), 30))
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free test network")


@pytest.fixture
def neighbour() -> Iterator[Neighbour]:
    if shutil.which("ip") is None:
        pytest.fail("iproute2 is not installed: apt-get install iproute2")
    tag = uuid.uuid4().hex[:8]
    name, host_if, ns_if = f"sy{tag}", f"sy{tag}h", f"sy{tag}n"
    host_ip, ns_ip = (str(a) for a in _free_net().hosts())
    _ip("netns", "add", name)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", name)
        _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        for args in (
            ("addr", "add", f"{ns_ip}/30", "dev", ns_if),
            ("link", "set", ns_if, "up"),
            ("route", "add", "default", "via", host_ip),
            # loopback down, 127.0.0.1 routed to this host: the 127.0.0.1-published-port leak
            ("route", "add", "127.0.0.1/32", "via", host_ip, "dev", ns_if),
        ):
            _ip("netns", "exec", name, "ip", *args)
        subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                name,
                "sysctl",
                "-q",
                f"net.ipv4.conf.{ns_if}.route_localnet=1",
            ],
            check=True,
        )
        yield Neighbour(name, host_ip, ns_ip)
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, check=False)


@contextlib.contextmanager
def listener(host: str) -> Iterator[int]:
    """A TCP server on `host` answering one HTTP line: the control that the wiring works."""
    srv = socket.create_server((host, 0))
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = srv.accept()
                with conn:
                    conn.sendall(b"HTTP/1.0 200 control\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join()
        srv.close()


def container_address(name: str) -> tuple[str, int]:
    info = json.loads(docker("inspect", name))[0]
    ip = next(iter(info["NetworkSettings"]["Networks"].values()))["IPAddress"]
    port = int(info["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"])
    return ip, port


@ROOT_ONLY
def test_published_ports_answer_this_host_only(
    local_env: Callable[..., LocalEnv], neighbour: Neighbour
) -> None:
    env = local_env()
    env.project.inv("release", "--env", "local", check=True, timeout=180)
    stack = env.status_json()["observed"]["stack"]
    version = docker("version", "--format", "{{.Server.Version}}").strip()
    rules = iso.Isolation(stack, engine_version=lambda: version)
    control = f"{stack}-control"
    try:
        app = next(n for n in env.containers(running_only=True) if n.endswith("-gamepulse"))
        ip, host_port = container_address(app)
        with listener(neighbour.host_ip) as port:  # the namespace does reach this host
            assert neighbour.connect(neighbour.host_ip, port).startswith("open"), "wiring"
        if iso.needed(version):
            # and, without shipyard's rule, a container exactly like it is reachable: the leak
            docker("network", "create", control)
            image = json.loads(docker("inspect", app))[0]["Config"]["Image"]
            docker("run", "-d", "--name", control, "--network", control,
                   "-p", "127.0.0.1::8080", image)  # fmt: skip
            c_ip, c_port = container_address(control)
            assert _eventually_open(neighbour, c_ip, 8080), "control: the bridge address leaks"
            assert neighbour.connect("127.0.0.1", c_port).startswith("open"), "control: 127.0.0.1"
        for host, port in (
            (ip, 8080),  # the container's bridge address, routed through this host
            ("127.0.0.1", host_port),  # its 127.0.0.1 port, routed here
            (neighbour.host_ip, host_port),  # this host's address facing the neighbour
            (neighbour.host_ip, env.port),  # nginx listens on 127.0.0.1 only
            ("127.0.0.1", env.port),
        ):
            answer = neighbour.connect(host, port)
            assert answer.startswith("closed"), (host, port, answer, _firewall(app))
        assert env.version() == "0.1.0"  # through nginx on proxy_bind:proxy_port
        with socket.create_connection(("127.0.0.1", host_port), timeout=3):
            pass  # and this host's own health checks still reach the container
        if iso.needed(version):
            mine = rules.rules()
            assert env.project.inv("wait", "--env", "local").returncode == 0
            assert rules.rules() == mine  # applied again, not added twice
            assert len(mine) == 2, mine  # 8080 and 4317
    finally:
        subprocess.run(["docker", "rm", "-f", control], capture_output=True, check=False)
        subprocess.run(["docker", "network", "rm", control], capture_output=True, check=False)
        env.teardown()
        rules.remove()
    assert rules.rules() == []


def _firewall(container: str) -> str:
    """What decides a forwarded packet's fate, for a failure to show: the FORWARD and
    DOCKER-USER chains and the container's networks (this test failed rarely, unexplained)."""
    shown = [
        subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
        for cmd in (
            ["iptables", "-w", "10", "-S", "FORWARD"],
            ["iptables", "-w", "10", "-S", "DOCKER-USER"],
            ["docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", container],
            ["ip", "-br", "addr"],
        )
        if shutil.which(cmd[0])
    ]
    return "\n".join(shown)


def _eventually_open(neighbour: Neighbour, host: str, port: int) -> bool:
    """A container's server needs a moment after `docker run`."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if neighbour.connect(host, port).startswith("open"):
            return True
        time.sleep(0.5)
    return False
