"""Registry credentials go only where they belong: over TLS or to a loopback registry, never
across a redirect to another host, never to a token realm on another host, and never in the
argv of `docker login`. Real HTTP servers on 127.0.0.1 and 127.0.0.2 (another host) play the
registry, the redirect target and the token realm; each records what it received."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shipyard.adapters.registry import Credentials, OciRegistry
from shipyard.errors import ConfigError, RegistryError
from shipyard.secrets import Secret
from tests.conftest import Project

PASSWORD = "s3cret-registry-password"
BASIC = "Basic " + base64.b64encode(f"shipyard:{PASSWORD}".encode()).decode()
MANIFEST = json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + "c" * 64}}).encode()
DIGEST = "sha256:" + "d" * 64

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Server:
    host: str
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    route: Callable[[Seen], Answer] = lambda _s: (404, {}, b"")

    @property
    def origin(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.origin}"

    def auth_seen(self) -> list[str]:
        return [s.headers.get("Authorization", "") for s in self.seen]


@contextmanager
def serving(host: str) -> Iterator[Server]:
    server = Server(host)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen = Seen(self.command, self.path, dict(self.headers.items()))
            server.seen.append(seen)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, headers, body = server.route(seen)
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_HEAD = _answer

        def log_message(self, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer((host, 0), Handler)
    server.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


def manifest_answer() -> Answer:
    return 200, {"Docker-Content-Digest": DIGEST, "Content-Type": "application/json"}, MANIFEST


def basic_registry(redirect_to: Callable[[str], str | None]) -> Callable[[Seen], Answer]:
    """A registry demanding Basic auth; a path `redirect_to` maps to a URL is redirected."""

    def route(seen: Seen) -> Answer:
        if seen.headers.get("Authorization") != BASIC:
            return 401, {"WWW-Authenticate": 'Basic realm="registry"'}, b""
        target = redirect_to(seen.path)
        if target:
            return 302, {"Location": target}, b""
        return manifest_answer()

    return route


def creds() -> Credentials:
    return Credentials("shipyard", Secret(PASSWORD))


def non_loopback_address() -> str | None:
    """An address of this machine on a real interface (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.123", 9))
        except OSError:
            return None
        address = str(s.getsockname()[0])
    return None if address.startswith("127.") else address


# -- plain HTTP only to loopback ----------------------------------------------------------------
@pytest.mark.parametrize(
    "url", ["127.0.0.1:5000", "127.0.0.2:5000", "localhost:5000", "[::1]:5000"]
)
def test_credentials_may_go_over_plain_http_to_loopback(url: str) -> None:
    assert OciRegistry(url, creds()).credentials() is not None


@pytest.mark.parametrize(
    "url", ["registry.example.com:5000", "10.0.0.5:5000", "localhost.example.com", "[fe80::1]:5000"]
)
def test_credentials_are_refused_for_a_plain_http_registry_elsewhere(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        OciRegistry(url, creds())
    line = err.value.one_line()
    assert url in line
    assert "TLS" in line
    assert PASSWORD not in line
    # the same registry is fine over TLS, or without credentials
    assert OciRegistry(url, creds(), tls=True).credentials() is not None
    assert OciRegistry(f"https://{url}", creds()).credentials() is not None
    assert OciRegistry(url).credentials() is None


def test_the_cli_refuses_before_any_request(project: Project) -> None:
    address = non_loopback_address()
    with ExitStack() as stack:
        # without an interface but loopback, an unroutable address still shows the refusal
        server = stack.enter_context(serving(address)) if address else None
        origin = server.origin if server else "192.0.2.1:5000"
        secret = project.path / "registry-password"
        secret.write_text(PASSWORD)
        local = project.path / "deploy" / "environments" / "local.toml"
        local.write_text(
            local.read_text()
            .replace('"127.0.0.1:5000"', f'"{origin}"')
            .replace("/var/lib/shipyard/registry/password", str(secret))
        )
        done = project.inv("version", "--bump", "patch", "--env", "local")
        assert done.returncode == 2, done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert origin in lines[0]
        assert "TLS" in lines[0]
        assert PASSWORD not in done.stdout + done.stderr
        if server:
            assert server.seen == []
    assert (project.path / "version.txt").read_text().strip() == "0.1.0"


# -- redirects ----------------------------------------------------------------------------------
def test_a_redirect_to_another_host_gets_no_authorization() -> None:
    with serving("127.0.0.1") as registry, serving("127.0.0.2") as other:
        other.route = lambda _s: manifest_answer()
        registry.route = basic_registry(
            lambda p: f"{other.url}/blob" if p.endswith("/manifests/1.0.0") else None
        )
        held = OciRegistry(registry.origin, creds()).manifest("app", "1.0.0")
        assert held is not None
        assert held.digest == DIGEST
        assert BASIC in registry.auth_seen()
        assert [s.path for s in other.seen] == ["/blob"]
        assert other.auth_seen() == [""]


def test_a_redirect_to_another_port_of_the_same_host_gets_no_authorization() -> None:
    with serving("127.0.0.1") as registry, serving("127.0.0.1") as other:
        other.route = lambda _s: manifest_answer()
        registry.route = basic_registry(
            lambda p: f"{other.url}/blob" if p.endswith("/manifests/1.0.0") else None
        )
        assert OciRegistry(registry.origin, creds()).manifest("app", "1.0.0") is not None
        assert other.auth_seen() == [""]


def test_a_redirect_within_the_registry_keeps_authorization() -> None:
    with serving("127.0.0.1") as registry:
        registry.route = basic_registry(
            lambda p: "/v2/app/manifests/moved" if p.endswith("/manifests/1.0.0") else None
        )
        held = OciRegistry(registry.origin, creds()).manifest("app", "1.0.0")
        assert held is not None
        assert held.digest == DIGEST
        paths = [s.path for s in registry.seen if s.headers.get("Authorization") == BASIC]
        assert paths[-2:] == ["/v2/app/manifests/1.0.0", "/v2/app/manifests/moved"]


def test_a_redirect_loop_ends_in_one_error() -> None:
    with serving("127.0.0.1") as registry:
        registry.route = basic_registry(lambda p: p)
        with pytest.raises(RegistryError, match="redirect"):
            OciRegistry(registry.origin, creds()).manifest("app", "1.0.0")


# -- Bearer token realms ------------------------------------------------------------------------
def bearer_registry(realm: str, redirect_to: str | None = None) -> Callable[[Seen], Answer]:
    def route(seen: Seen) -> Answer:
        if seen.path.startswith("/token"):
            if seen.headers.get("Authorization") != BASIC:
                return 401, {}, b""
            return 200, {"Content-Type": "application/json"}, b'{"token": "tok-123"}'
        if seen.headers.get("Authorization") != "Bearer tok-123":
            challenge = f'Bearer realm="{realm}",service="registry",scope="repository:app:pull"'
            return 401, {"WWW-Authenticate": challenge}, b""
        if redirect_to:
            return 302, {"Location": redirect_to}, b""
        return manifest_answer()

    return route


def test_a_realm_on_the_registry_host_gets_the_credentials_and_the_token_stays_home() -> None:
    with serving("127.0.0.1") as registry, serving("127.0.0.2") as other:
        other.route = lambda _s: manifest_answer()
        registry.route = bearer_registry(f"{registry.url}/token", redirect_to=f"{other.url}/b")
        held = OciRegistry(registry.origin, creds()).manifest("app", "1.0.0")
        assert held is not None
        token_requests = [s for s in registry.seen if s.path.startswith("/token")]
        assert [s.headers.get("Authorization") for s in token_requests] == [BASIC]
        assert "Bearer tok-123" in registry.auth_seen()
        assert other.auth_seen() == [""]


def test_a_realm_on_another_port_of_the_registry_host_is_allowed() -> None:
    with serving("127.0.0.1") as registry, serving("127.0.0.1") as realm:
        realm.route = bearer_registry("unused")
        registry.route = bearer_registry(f"{realm.url}/token")
        assert OciRegistry(registry.origin, creds()).manifest("app", "1.0.0") is not None
        assert realm.auth_seen() == [BASIC]


def test_a_realm_on_another_host_is_refused_and_receives_nothing() -> None:
    with serving("127.0.0.1") as registry, serving("127.0.0.2") as realm:
        realm.route = bearer_registry("unused")
        registry.route = bearer_registry(f"{realm.url}/token")
        with pytest.raises(RegistryError) as err:
            OciRegistry(registry.origin, creds()).manifest("app", "1.0.0")
        line = err.value.one_line()
        assert "127.0.0.2" in line
        assert registry.origin in line
        assert "\n" not in line
        assert PASSWORD not in line
        assert realm.seen == []


def test_a_token_endpoint_redirecting_elsewhere_does_not_pass_the_credentials_on() -> None:
    with serving("127.0.0.1") as registry, serving("127.0.0.2") as other:
        other.route = lambda _s: (200, {}, b'{"token": "tok-123"}')

        def route(seen: Seen) -> Answer:
            if seen.path.startswith("/token"):
                return 302, {"Location": f"{other.url}/token"}, b""
            return bearer_registry(f"{registry.url}/token")(seen)

        registry.route = route
        OciRegistry(registry.origin, creds()).manifest("app", "1.0.0")
        assert other.auth_seen() == [""]


# -- docker login: the password on stdin, never in argv -----------------------------------------
SHIM = """#!/bin/sh
# records what this process was started with, then hands the same stdin to the real docker
cat /proc/$$/cmdline > "{record}/cmdline"
tr '\\0' '\\n' < /proc/$$/environ > "{record}/environ"
stdin=$(cat)
if [ -n "$stdin" ]; then echo yes > "{record}/stdin"; else echo no > "{record}/stdin"; fi
printf '%s' "$stdin" | sha256sum | cut -d' ' -f1 > "{record}/stdin.sha256"
printf '%s' "$stdin" | exec_real "$@"
"""


def test_docker_login_gets_the_password_on_stdin_not_in_argv(
    tmp_path: Path, registry_password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from shipyard.adapters.docker import DockerEngine

    real = shutil.which("docker")
    assert real is not None
    bin_dir, record = tmp_path / "bin", tmp_path / "record"
    bin_dir.mkdir()
    record.mkdir()
    shim = bin_dir / "docker"
    script = SHIM.format(record=record).replace("exec_real", real)
    shim.write_text(script)
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    DockerEngine().login("127.0.0.1:5000", "shipyard", Secret(registry_password))

    argv = (record / "cmdline").read_bytes().split(b"\0")
    assert b"login" in argv
    assert b"--password-stdin" in argv
    assert not any(registry_password.encode() in arg for arg in argv)
    assert registry_password not in (record / "environ").read_text()
    assert (record / "stdin").read_text().strip() == "yes"
    wanted = hashlib.sha256(registry_password.encode()).hexdigest()
    assert (record / "stdin.sha256").read_text().strip() == wanted
