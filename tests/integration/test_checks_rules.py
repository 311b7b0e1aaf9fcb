"""Rules of the HTTP verify checks (rollout/checks.py) against a real HTTP server on 127.0.0.1
that answers what each test scripts: a wrong version, a 5xx, an answer slower than the fetch
timeout. The rules: only the base URL's trailing "/" are dropped before the check's path is
added (the server sees the exact path; a path prefix keeps its letters); each fetch is given
the configured timeout, so a slow answer is "no answer: timed out"; a result carries the URL it
checked, passed or failed, and the verify result the options' URL; a pause inside the warm-up
that would be 0 (the window ended while the check ran) is the backoff but half a second at
most; and `show` prints the title and the six column headers."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shipyard.adapters.http import get
from shipyard.config.model import HttpCheck, VerifyConfig
from shipyard.console import Console
from shipyard.rollout import checks as verify
from shipyard.rollout.checks import VerifyOptions
from tests.support.manual_clock import ManualClock


@dataclass
class Script:
    """What the server answers on each path (the last answer repeats); `slow` paths answer
    only once `release` is set (or after 5 s), and every request path is recorded."""

    answers: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    slow: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)

    def next(self, path: str) -> tuple[int, str]:
        self.seen.append(path)
        if path in self.slow:
            self.release.wait(5.0)
        queue = self.answers.get(path) or [(404, "no such path")]
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = script.next(self.path)
            data = body.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (its timeout)
                return

        def log_message(self, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    script.release.set()
    httpd.shutdown()
    httpd.server_close()


class TickingClock(ManualClock):
    """Time also moves by `tick` each time it is read: the work between two readings takes
    time, as it does on a real machine."""

    def __init__(self, tick: float, now: float = 0.0) -> None:
        super().__init__(now)
        self.tick = tick

    def __call__(self) -> float:
        seen = self.now
        self.now += self.tick
        return seen


HEALTH = HttpCheck(path="/health/", status=200)
VERSION = HttpCheck(path="/version", status=200, contains="{version}")


def test_the_base_url_s_trailing_slash_is_dropped_before_the_path(
    server: tuple[str, Script],
) -> None:
    url, script = server
    script.answers["/health/"] = [(200, "ok")]
    clock = ManualClock()
    cfg = VerifyConfig(retries=0, backoff_seconds=1.0)
    result = verify.run_check(
        url + "/", HEALTH, cfg, version=None, warmup_until=0.0, clock=clock, sleep=clock.sleep
    )
    assert script.seen == ["/health/"]
    assert (result.ok, result.url, result.detail) == (True, f"{url}/health/", "HTTP 200")


def test_only_slashes_are_dropped_from_a_base_url_with_a_path_prefix(
    server: tuple[str, Script],
) -> None:
    """A base URL under a path prefix (behind a shared load balancer): `/APPX/` loses only its
    "/", never the prefix's last letters."""
    url, script = server
    script.answers["/APPX/health/"] = [(200, "ok")]
    clock = ManualClock()
    cfg = VerifyConfig(retries=0, backoff_seconds=1.0)
    result = verify.run_check(
        f"{url}/APPX//", HEALTH, cfg, version=None, warmup_until=0.0, clock=clock, sleep=clock.sleep
    )
    assert script.seen == ["/APPX/health/"]
    assert (result.ok, result.url) == (True, f"{url}/APPX/health/")


def test_a_failed_check_carries_the_url_it_checked_and_the_wrong_version(
    server: tuple[str, Script],
) -> None:
    url, script = server
    script.answers["/version"] = [(200, "gamepulse 1.2.0")]
    clock = ManualClock()
    cfg = VerifyConfig(retries=0, backoff_seconds=1.0)
    result = verify.run_check(
        url, VERSION, cfg, version="1.3.0", warmup_until=0.0, clock=clock, sleep=clock.sleep
    )
    assert (result.ok, result.url, result.status) == (False, f"{url}/version", None)
    assert result.detail == "body 'gamepulse 1.2.0' lacks '1.3.0'"
    assert clock.pauses == []


def test_an_answer_slower_than_the_timeout_is_no_answer(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers["/health/"] = [(200, "ok")]
    script.slow.add("/health/")
    cfg = VerifyConfig(retries=0, backoff_seconds=1.0, timeout_seconds=0.2)
    clock = ManualClock()
    result = verify.run_check(
        url, HEALTH, cfg, version=None, warmup_until=0.0, fetch=get, clock=clock, sleep=clock.sleep
    )
    assert (result.ok, result.url, result.attempts) == (False, f"{url}/health/", 1)
    assert result.detail == "no answer: timed out"


def test_a_warmup_that_ends_while_the_check_runs_pauses_half_a_second_at_most(
    server: tuple[str, Script],
) -> None:
    """warm-up until t=1.0; the 503 is judged at t=0.5 (inside the window) and the pause is
    computed at t=1.0, when nothing of the window is left: the pause is min(backoff, 0.5)."""
    url, script = server
    script.answers["/health/"] = [(503, "switching"), (200, "ok")]
    clock = TickingClock(0.5)
    cfg = VerifyConfig(retries=0, backoff_seconds=2.0)
    result = verify.run_check(
        url, HEALTH, cfg, version=None, warmup_until=1.0, clock=clock, sleep=clock.sleep
    )
    assert clock.pauses == [0.5]
    assert (result.ok, result.attempts) == (True, 2)


def test_a_short_backoff_is_the_pause_when_the_warmup_ran_out(
    server: tuple[str, Script],
) -> None:
    url, script = server
    script.answers["/health/"] = [(502, "down"), (200, "ok")]
    clock = TickingClock(0.5)
    cfg = VerifyConfig(retries=0, backoff_seconds=0.25)
    result = verify.run_check(
        url, HEALTH, cfg, version=None, warmup_until=1.0, clock=clock, sleep=clock.sleep
    )
    assert clock.pauses == [0.25]
    assert result.ok


def test_the_verify_result_names_the_options_url_and_show_prints_its_columns(
    server: tuple[str, Script],
) -> None:
    url, script = server
    script.answers["/health/"] = [(200, "ok")]
    script.answers["/version"] = [(500, "boom")]
    cfg = VerifyConfig(checks=[HEALTH, VERSION], retries=0)
    clock = ManualClock()
    result = verify.run(
        VerifyOptions(url + "/", "2.0.0", warmup_seconds=0), cfg, clock=clock, sleep=clock.sleep
    )
    assert result.url == url + "/"
    assert [(c.url, c.ok) for c in result.checks] == [
        (f"{url}/health/", True),
        (f"{url}/version", False),
    ]
    out = io.StringIO()
    verify.show(result, Console(out, out))
    lines = out.getvalue().splitlines()
    assert lines[0] == "verify"
    assert lines[1].split() == ["check", "url", "result", "detail", "attempts", "time"]
    assert lines[3].split() == ["/health/", f"{url}/health/", "OK", "HTTP", "200", "1", "0.0s"]
    assert lines[4].split()[:5] == ["/version", f"{url}/version", "NG", "HTTP", "500,"]
