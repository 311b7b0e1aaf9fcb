"""Load against a tiny http.server in a thread whose answers the test changes as it goes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.load import Load


@dataclass
class Behaviour:
    status: int = 200
    body: str = "0.1.0"
    release: str = "r1"
    delay: float = 0.0


class Service:
    """A /version endpoint on 127.0.0.1 answering as `behaviour` says; stop() closes it."""

    def __init__(self) -> None:
        self.behaviour = Behaviour()
        handler = self._handler_class()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                b = service.behaviour
                time.sleep(b.delay)
                payload = (b.body + "\n").encode() if self.path == "/version" else b"?\n"
                self.send_response(b.status if self.path == "/version" else 404)
                self.send_header("X-Shipyard-Release", b.release)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service() -> Iterator[Service]:
    svc = Service()
    yield svc
    svc.stop()


def test_steady_rate_and_what_each_answer_carried(service: Service) -> None:
    with Load(service.url, rate=30) as load:
        time.sleep(1.0)
    records = load.records()
    assert 25 <= len(records) <= 35, len(records)
    assert {(r.status, r.body, r.release) for r in records} == {(200, "0.1.0", "r1")}
    times = [r.t for r in records]
    assert times == sorted(times)
    assert load.failed() == []
    assert load.failed_seconds() == 0.0
    assert not load.running


def test_a_switch_shows_in_versions_and_last_version(service: Service) -> None:
    with Load(service.url, rate=50) as load:
        time.sleep(0.3)
        service.behaviour = Behaviour(body="0.1.1", release="r2")
        time.sleep(0.3)
    assert load.versions() == ["0.1.0", "0.1.1"]
    assert load.last_version() == "0.1.1"
    assert load.records()[-1].release == "r2"


def test_5xx_and_no_answer_are_failures_and_their_span_is_measured(service: Service) -> None:
    load = Load(service.url + "/", rate=50).start()
    try:
        time.sleep(0.2)
        service.behaviour = Behaviour(status=503, body="no release is live", release="none")
        time.sleep(0.3)
        service.behaviour = Behaviour(status=404, body="not found")
        time.sleep(0.2)
        service.stop()  # nothing listens any more: connection refused
        time.sleep(0.3)
    finally:
        load.stop()
    failed = load.failed()
    statuses = [f.status for f in failed]
    assert 503 in statuses
    assert None in statuses
    assert 404 not in statuses  # a 4xx is an answer, not a failure
    # the request that raced the close may be reset; the ones after it are refused
    refused = failed[-1]
    assert refused.status is None
    assert "ConnectionRefusedError" in refused.body or "Connection refused" in refused.body
    assert refused.release is None
    assert 0.6 <= load.failed_seconds() <= 1.5
    assert load.versions() == ["0.1.0"]  # only 2xx bodies are versions
    assert load.last_version() == "0.1.0"


def test_a_hanging_service_times_out_after_two_seconds(service: Service) -> None:
    service.behaviour = Behaviour(delay=3.0)
    load = Load(service.url, rate=10).start()
    time.sleep(0.1)
    load.stop()
    [answer] = load.records()
    assert answer.status is None
    assert "timed out" in answer.body
    assert load.last_version() is None


def test_it_stops_by_itself_after_max_seconds(service: Service) -> None:
    load = Load(service.url, rate=20, max_seconds=0.5).start()
    time.sleep(1.0)
    assert not load.running
    count = len(load.records())
    assert 8 <= count <= 12, count
    load.stop()


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1:8080", "http://example.com", "https://192.168.1.2:443", "/version"]
)
def test_only_loopback_urls(url: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        Load(url)


def test_localhost_is_loopback(service: Service) -> None:
    url = service.url.replace("127.0.0.1", "localhost")
    with Load(url, rate=20) as load:
        time.sleep(0.2)
    assert load.last_version() == "0.1.0"
