"""The proxies against the real Docker engine and the real registry: forward, cut, restore."""

from __future__ import annotations

import http.client
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.support.proxies import TcpProxy, UnixSocketProxy

BASE_IMAGE = "localhost/shipyard/busybox:1.35.0"  # made by scripts/bootstrap.sh, as the app's FROM
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _docker(
    proxy: UnixSocketProxy, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI against the engine through the proxy."""
    return subprocess.run(
        ["docker", "--host", proxy.docker_host, *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
        check=False,
    )


def _registry_status(proxy: TcpProxy) -> int | None:
    """The HTTP status of GET /v2/ through the proxy; None when nothing answers."""
    try:
        with NO_PROXY.open(f"http://{proxy.address}/v2/", timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


@pytest.mark.docker
def test_docker_through_the_unix_proxy_cut_and_restore(docker_engine: None) -> None:
    with UnixSocketProxy() as proxy:
        assert proxy.docker_host == f"unix://{proxy.path}"
        ok = _docker(proxy, "version", "--format", "{{.Server.Version}}")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.strip()
        proxy.cut()
        gone = _docker(proxy, "version", "--format", "{{.Server.Version}}")
        assert gone.returncode != 0
        assert "Cannot connect to the Docker daemon" in gone.stderr
        proxy.restore()
        again = _docker(proxy, "version", "--format", "{{.Server.Version}}")
        assert again.returncode == 0, again.stderr
        assert again.stdout == ok.stdout
    assert not proxy.path.exists()


@pytest.mark.docker
def test_hijacked_attach_passes_stdin_end_and_output(docker_engine: None) -> None:
    """`docker run -i` hijacks the connection, half-closes it at the end of stdin and still
    reads the container's output: the proxy must pass the half-close on, not close."""
    with UnixSocketProxy() as proxy:
        script = "/bin/busybox cat; /bin/busybox sleep 0.3; echo after the end of stdin"
        out = _docker(
            proxy,
            "run",
            "--rm",
            "-i",
            BASE_IMAGE,
            "/bin/busybox",
            "sh",
            "-c",
            script,
            input="through the proxy\n",
        )
        # a proxy that closes at the first end of file loses this output and docker still
        # exits 0: the assertion on stdout is the one that catches it
        assert out.returncode == 0, out.stderr
        assert out.stdout == "through the proxy\nafter the end of stdin\n"


@pytest.mark.docker
def test_cut_breaks_an_open_streaming_connection(docker_engine: None) -> None:
    with UnixSocketProxy() as proxy:
        events = subprocess.Popen(
            ["docker", "--host", proxy.docker_host, "events"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 10
            while proxy.open_connections() == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert proxy.open_connections() >= 1
            assert events.poll() is None
            cut_at = time.monotonic()
            proxy.cut()
            assert proxy.open_connections() == 0
            _, err = events.communicate(timeout=10)
            assert time.monotonic() - cut_at < 10
            assert events.returncode != 0, err
        finally:
            if events.poll() is None:
                events.kill()
                events.wait()


@pytest.mark.registry
def test_registry_through_the_tcp_proxy_cut_and_restore(registry_password: str) -> None:
    with TcpProxy() as proxy:
        port = proxy.port
        assert proxy.address == f"127.0.0.1:{port}"
        assert _registry_status(proxy) == 401  # htpasswd auth: /v2/ asks for credentials
        proxy.cut()
        assert _registry_status(proxy) is None
        proxy.restore()
        assert proxy.port == port
        assert _registry_status(proxy) == 401


def _get_again(conn: http.client.HTTPConnection) -> None:
    """GET /v2/ again on the kept-alive connection."""
    conn.request("GET", "/v2/")
    conn.getresponse()


@pytest.mark.registry
def test_cut_resets_an_open_keep_alive_connection(registry_password: str) -> None:
    with TcpProxy() as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        try:
            conn.request("GET", "/v2/")
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 401
            assert proxy.open_connections() == 1
            proxy.cut()
            with pytest.raises((ConnectionError, http.client.HTTPException)):
                _get_again(conn)
        finally:
            conn.close()
