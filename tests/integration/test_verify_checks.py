"""The verify checks (rollout/checks.py: `inv verify`, and the gate a local release passes
before traffic moves) against a real HTTP server on 127.0.0.1 that answers what each test
scripts: 5xx, the wrong version, then the right answer. The clock and the pauses are the
test's, so the retry, backoff and warm-up rules are checked to the second without waiting; and
the engine's verify-new gate (rollout/engine.py: a release that fails directly is never
given traffic)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shipyard.adapters.http import get
from shipyard.config.model import HttpCheck, ShipyardConfig, VerifyConfig
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import VerifyFailed
from shipyard.rollout import api
from shipyard.rollout import checks as verify
from shipyard.rollout.checks import VerifyOptions
from shipyard.rollout.gate import Gate
from shipyard.rollout.model import Attempt
from shipyard.targets.base import CheckResult, DeployOptions
from tests.conftest import free_port
from tests.support.manual_clock import ManualClock as Clock
from tests.support.memory_target import NEW, MemoryTarget


@dataclass
class Script:
    """What the server answers on each path: one (status, body) per request, the last one
    repeated; every request is recorded with the clock's time."""

    answers: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)

    def next(self, path: str) -> tuple[int, str]:
        self.seen.append(path)
        queue = self.answers.get(path) or [(404, "no such path")]
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = script.next(self.path)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    httpd.shutdown()
    httpd.server_close()


def check(
    url: str, clock: Clock, chk: HttpCheck, *, version: str | None = None, **cfg: Any
) -> CheckResult:
    config = VerifyConfig(**{"retries": 0, "backoff_seconds": 1.0, **cfg})
    return verify.run_check(
        url,
        chk,
        config,
        version=version,
        warmup_until=clock() + config.warmup_seconds,
        fetch=get,
        clock=clock,
        sleep=clock.sleep,
    )


HEALTH = HttpCheck(path="/health/", status=200)
VERSION = HttpCheck(path="/version", status=200, contains="{version}")


def test_retries_back_off_doubling_up_to_the_cap_then_pass(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers["/health/"] = [(503, "down")] * 6 + [(200, "ok")]
    clock = Clock()
    result = check(url, clock, HEALTH, retries=6)
    assert result.ok
    assert result.attempts == 7
    assert clock.pauses == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]  # doubling, capped at 10 s
    assert result.detail == "HTTP 200"
    assert result.status == 200
    assert result.url == f"{url}/health/"
    assert result.seconds == pytest.approx(35.0)


def test_when_the_retries_run_out_the_check_fails_with_the_last_answer(
    server: tuple[str, Script],
) -> None:
    url, script = server
    script.answers["/health/"] = [(503, "down")]
    clock = Clock()
    result = check(url, clock, HEALTH, retries=2)
    assert not result.ok
    assert result.attempts == 3
    assert result.status is None
    assert result.detail == "HTTP 503, expected 200"
    assert clock.pauses == [1.0, 2.0]  # no pause after the last attempt


def test_no_retries_means_one_attempt_and_no_backoff_means_no_pause(
    server: tuple[str, Script],
) -> None:
    url, script = server
    script.answers["/health/"] = [(500, "err"), (200, "ok")]
    clock = Clock()
    assert check(url, clock, HEALTH).attempts == 1
    script.answers["/health/"] = [(500, "err"), (500, "err"), (200, "ok")]
    clock = Clock()
    result = check(url, clock, HEALTH, retries=3, backoff_seconds=0)
    assert (result.ok, result.attempts, clock.pauses) == (True, 3, [0.0, 0.0])


def test_failures_inside_the_warmup_are_not_counted(server: tuple[str, Script]) -> None:
    """warm-up 5 s, no retries: the 5xx of a traffic switch during the first 5 s are not
    counted; the pauses there do not grow and never run past the window."""
    url, script = server
    script.answers["/health/"] = [(502, "switching")] * 3 + [(200, "ok")]
    clock = Clock()
    result = check(url, clock, HEALTH, warmup_seconds=5)
    assert (result.ok, result.attempts) == (True, 4)
    assert clock.pauses == [1.0, 1.0, 1.0]


def test_after_the_warmup_failures_count_and_end_the_check(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers["/health/"] = [(502, "down")]
    clock = Clock()
    result = check(url, clock, HEALTH, warmup_seconds=2.5, retries=1, backoff_seconds=2)
    # t=0 and t=2 inside the window (the second pause only to its end), t=2.5 counted once,
    # t=4.5 counted twice: more than 1 retry
    assert clock.pauses == [2.0, 0.5, 2.0]
    assert (result.ok, result.attempts) == (False, 4)


def test_contains_names_the_version_and_without_one_the_status_decides(
    server: tuple[str, Script],
) -> None:
    url, script = server
    script.answers["/version"] = [(200, "gamepulse 1.2.0\n")]
    wrong = check(url, Clock(), VERSION, version="1.3.0")
    assert not wrong.ok
    assert wrong.detail == "body 'gamepulse 1.2.0' lacks '1.3.0'"
    right = check(url, Clock(), VERSION, version="1.2.0")
    assert (right.ok, right.detail) == (True, "HTTP 200, contains '1.2.0'")
    unknown = check(url, Clock(), VERSION, version=None)  # nothing to compare against
    assert (unknown.ok, unknown.detail) == (True, "HTTP 200")
    literal = HttpCheck(path="/version", contains="gamepulse")
    assert check(url, Clock(), literal, version="9.9.9").ok
    absent = HttpCheck(path="/version", contains="{version}-beta")
    assert check(url, Clock(), absent, version="1.2.0").detail.endswith("lacks '1.2.0-beta'")


def test_the_expected_status_is_the_configured_one(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers["/gone"] = [(410, "gone")]
    assert check(url, Clock(), HttpCheck(path="/gone", status=410)).ok
    result = check(url, Clock(), HttpCheck(path="/gone"))
    assert result.detail == "HTTP 410, expected 200"


def test_no_answer_at_all_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = check(url, Clock(), HEALTH)
    assert not result.ok
    assert result.detail.startswith("no answer: ")
    assert "refused" in result.detail.lower()


def test_run_checks_every_configured_path_once_each_and_shows_them(
    server: tuple[str, Script],
) -> None:
    url, script = server
    script.answers["/health/"] = [(200, "ok")]
    script.answers["/version"] = [(200, "gamepulse 2.0.0")]
    cfg = VerifyConfig(checks=[HEALTH, VERSION], retries=0, warmup_seconds=30)
    out = io.StringIO()
    console = Console(out, out)
    clock = Clock()
    result = verify.run(
        VerifyOptions(url + "/", "2.0.0", warmup_seconds=0),
        cfg,
        console=console,
        fetch=get,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.ok
    assert [c.name for c in result.checks] == ["/health/", "/version"]
    assert [c.url for c in result.checks] == [f"{url}/health/", f"{url}/version"]
    assert script.seen == ["/health/", "/version"]
    verify.show(result, console, title="verify staging")
    text = out.getvalue()
    assert f"verify {url}/health/" in text  # progress, the URL without the trailing /
    assert "verify staging" in text
    assert text.count("OK") >= 2


def test_the_warmup_of_the_options_overrides_the_config(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers["/health/"] = [(503, "down")]
    cfg = VerifyConfig(checks=[HEALTH], retries=0, warmup_seconds=30)
    clock = Clock()
    result = verify.run(
        VerifyOptions(url, None, warmup_seconds=0), cfg, fetch=get, clock=clock, sleep=clock.sleep
    )
    assert not result.ok
    assert result.checks[0].attempts == 1  # no warm-up: the first failure counts
    clock = Clock()
    script.answers["/health/"] = [(503, "down"), (200, "ok")]
    warm = verify.run(VerifyOptions(url, None), cfg, fetch=get, clock=clock, sleep=clock.sleep)
    assert warm.ok  # the config's 30 s warm-up absorbed the first 503


def test_a_subset_of_checks_can_be_run(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers["/version"] = [(200, "gamepulse 2.0.0")]
    cfg = VerifyConfig(checks=[HEALTH, VERSION], retries=0)
    result = verify.run(VerifyOptions(url, "2.0.0"), cfg, [VERSION], fetch=get)
    assert [c.name for c in result.checks] == ["/version"]
    assert script.seen == ["/version"]


# -- the engine's gate before traffic moves -----------------------------------------------------
@dataclass
class DirectTarget(MemoryTarget):
    """A target whose new release answers on its own URL before the shift (as a local one)."""

    direct: str = ""

    def direct_url(self, attempt: Attempt) -> str | None:
        return self.direct


@pytest.mark.parametrize("broken", ["5xx", "wrong version"])
def test_a_release_failing_its_direct_check_never_gets_traffic(
    tmp_path: Path, server: tuple[str, Script], broken: str
) -> None:
    url, script = server
    script.answers["/health/"] = [(503, "starting")] if broken == "5xx" else [(200, "ok")]
    script.answers["/version"] = [(200, "gamepulse 1.0.0")]  # the old version's answer
    config = ShipyardConfig(
        environment="test",
        verify=VerifyConfig(checks=[HEALTH, VERSION], retries=1, backoff_seconds=0),
    )
    out = io.StringIO()
    ctx = Context(config=config, root=tmp_path, console=Console(out, out))
    target = DirectTarget(direct=url)
    with pytest.raises(VerifyFailed) as err:
        api.deploy(ctx, NEW, DeployOptions(), target=target, fetch=get)
    assert "shift" not in target.log
    assert "undo" not in target.log  # nothing moved: nothing to undo
    assert target.serving.release_id == "old"
    which = "/health/" if broken == "5xx" else "/version"
    detail = "HTTP 503, expected 200" if broken == "5xx" else "lacks '2.0.0'"
    assert f"the new release failed {which} on {url}: " in err.value.message
    assert detail in err.value.message
    assert err.value.exit_code == 1
    assert target.records[-1] == ("new", "failed")
    assert f"verify {url} (new release, direct)" in out.getvalue()  # the table was shown


def test_a_release_passing_its_direct_check_goes_on_to_the_shift(
    tmp_path: Path, server: tuple[str, Script]
) -> None:
    url, script = server
    script.answers["/health/"] = [(503, "starting"), (200, "ok")]  # a retry absorbs it
    script.answers["/version"] = [(200, "gamepulse 2.0.0")]
    config = ShipyardConfig(
        environment="test",
        verify=VerifyConfig(checks=[HEALTH, VERSION], retries=1, backoff_seconds=0),
    )
    ctx = Context(config=config, root=tmp_path, console=Console(quiet=True))
    target = DirectTarget(direct=url, url=url)
    result = api.deploy(ctx, NEW, DeployOptions(), target=target, fetch=get)
    assert result.outcome == "succeeded"
    assert "shift" in target.log
    assert script.seen[:3] == ["/health/", "/health/", "/version"]


# -- the gate once traffic has moved (rollout/gate.py) ------------------------------------------

SERVING = "0.4.0"


def _serving_app(script: Script) -> None:
    script.answers.update({"/health": [(200, "ok\n")], "/version": [(200, f"{SERVING}\n")]})


def _gate(warmup: float = 30.0) -> Gate:
    checks = [
        HttpCheck(path="/health", contains="ok"),
        HttpCheck(path="/version", contains="{version}"),
    ]
    return Gate(VerifyConfig(checks=checks, warmup_seconds=warmup, timeout_seconds=2.0))


def test_probe_passes_the_release_that_serves(server: tuple[str, Script]) -> None:
    url, script = server
    _serving_app(script)
    assert _gate().probe(url, SERVING) is None


def test_probe_names_a_release_serving_another_version(server: tuple[str, Script]) -> None:
    url, script = server
    _serving_app(script)
    failure = _gate().probe(url, "0.5.0")
    assert failure is not None
    assert failure.startswith(f"/version on {url}/version: body '{SERVING}' lacks '0.5.0'")


def test_probe_checks_each_path_once_without_the_configured_warm_up(
    server: tuple[str, Script],
) -> None:
    """A probe after the shift must answer now: a configured warm-up (30 s here) would retry a
    failing check for half a minute while users get the failing release."""
    url, script = server
    _serving_app(script)
    # one check: the probe returns once it has failed, so what the server saw is final (with
    # two, the other check's request may still be in flight when the probe returns)
    gate = Gate(
        VerifyConfig(
            checks=[HttpCheck(path="/version", contains="{version}")],
            warmup_seconds=30.0,
            timeout_seconds=2.0,
        )
    )
    assert gate.probe(url, "0.5.0") is not None
    assert script.seen == ["/version"]


def test_gate_live_with_a_warm_up_retries_until_it_runs_out(server: tuple[str, Script]) -> None:
    url, script = server
    _serving_app(script)
    clock = Clock()
    gate = Gate(
        VerifyConfig(checks=[HttpCheck(path="/version", contains="{version}")], warmup_seconds=1.0),
        clock=clock,
        sleep=clock.sleep,
    )
    result = gate.live(url, "0.5.0")
    assert not result.checks[0].ok
    assert result.checks[0].attempts == len(clock.pauses) + 1 > 1
