"""The verify gate once traffic has moved (rollout/gate.py), against a real HTTP server on
127.0.0.1: `probe` compares `/version` with the release being verified, and `live` checks
only once, with no warm-up, unless a warm-up is asked for."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shipyard.config.model import HttpCheck, VerifyConfig
from shipyard.rollout.gate import Gate

SERVING = "0.4.0"


class _App(BaseHTTPRequestHandler):
    """Answers as the sample app does: /health says ok, /version the release it runs."""

    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        body = {"/health": "ok\n", "/version": f"{SERVING}\n"}.get(self.path)
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write((body or "no such path\n").encode())

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def app() -> Iterator[str]:
    _App.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _gate(warmup: float = 30.0) -> Gate:
    checks = [
        HttpCheck(path="/health", contains="ok"),
        HttpCheck(path="/version", contains="{version}"),
    ]
    return Gate(VerifyConfig(checks=checks, warmup_seconds=warmup, timeout_seconds=2.0))


def test_probe_passes_the_release_that_serves(app: str) -> None:
    assert _gate().probe(app, SERVING) is None


def test_probe_names_a_release_serving_another_version(app: str) -> None:
    failure = _gate().probe(app, "0.5.0")
    assert failure is not None
    assert failure.startswith(f"/version on {app}/version: body '{SERVING}' lacks '0.5.0'")


def test_probe_checks_each_path_once_without_the_configured_warm_up(app: str) -> None:
    """A probe after the shift must answer now: a configured warm-up (30 s here) would retry a
    failing check for half a minute while users get the failing release."""
    assert _gate(warmup=30.0).probe(app, "0.5.0") is not None
    assert sorted(_App.hits) == ["/health", "/version"]


def test_live_with_a_warm_up_retries_until_it_runs_out(app: str) -> None:
    now = [0.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    gate = Gate(
        VerifyConfig(checks=[HttpCheck(path="/version", contains="{version}")], warmup_seconds=1.0),
        clock=lambda: now[0],
        sleep=sleep,
    )
    result = gate.live(app, "0.5.0")
    assert not result.checks[0].ok
    assert result.checks[0].attempts == len(pauses) + 1 > 1
