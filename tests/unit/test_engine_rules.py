"""The rollout engine's rules against an in-memory target keeping its own truth (what serves,
records, lock holder) and a network answering from it: both gates, the bake probe, every
ending's words, class and exit code, records, notifications (a local Slack webhook)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import pytest

from shipyard.adapters.http import HttpAnswer
from shipyard.config import validate
from shipyard.config.model import ShipyardConfig
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import (
    DeployFailed,
    Interrupted,
    RolledBack,
    ShipyardError,
    StateUnknown,
    UsageError,
    VerifyFailed,
)
from shipyard.locking import LockInfo
from shipyard.rollout import api
from shipyard.rollout.model import NOTHING, Attempt, Mark, Outcome, Serving, serving_dict
from shipyard.targets.base import DeployOptions
from tests.integration.test_notify import FakeSlack, slack_server  # noqa: F401
from tests.support.memory_target import NEW, OLD, MemoryLock, MemoryTarget

DIRECT = "http://127.0.0.1:9"  # where the new release answers alone (nothing real listens)
MID = Serving(True, "mid", "1.1.0", "sha256:mid", "mid serves")
GOING = Serving(True, "new", "2.0.0", "", "rolling", continuing="deployment d-1 continues")
OTHER = Serving(True, "other", "0.5.0", "sha256:other", "other serves")
VERSION_CHECK = [{"path": "/version", "contains": "{version}"}]


class HolderLock(MemoryLock):
    """Logs its holder's message (what another run is told) and wait; may be taken over."""

    took_over = ""

    def acquire(self, message: str, *, wait: float = 0.0) -> LockInfo:
        self.log.append(f"held by {message!r} after waiting up to {wait}s")
        return replace(super().acquire(message, wait=wait), took_over=self.took_over)


@dataclass
class World(MemoryTarget):
    """MemoryTarget plus what a real target has: a direct URL, a network answering from what
    serves, a bake running the engine's probe, records, work that takes time on the clock."""

    now: float = 1000.0  # the monotonic clock, moved only by work and the gate's pauses
    direct: str | None = None
    direct_status: int = 200
    public_status: int = 200
    breaks_in_bake: bool = False
    bake_for: float = 0.0
    healthy_after: float = 0.0
    leftover: Serving | None = None
    dies_at: str = ""  # once this step ran, what serves cannot be observed (engine gone)
    after_shift: Serving | None = None  # what serves once the shift settled, when not ours
    undo_note: str = "switched back"
    discard_fails: bool = False
    finish_fails: BaseException | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    baked: list[tuple[float, str | None]] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    @property
    def bake_seconds(self) -> float:
        return self.bake_for

    def fetch(self, url: str, timeout: float) -> HttpAnswer:
        self.log.append(f"GET {url}")
        if self.direct and url.startswith(self.direct):
            return HttpAnswer(self.direct_status, f"ok {NEW.version}")
        return HttpAnswer(self.public_status, f"ok {self.serving.version}")

    def observe(self) -> Serving:
        if self.dies_at and self.dies_at in self.log:
            raise DeployFailed("engine unreachable")
        return self.serving

    def lock(self) -> MemoryLock:
        self.lock_obj = self.lock_obj or HolderLock(self.log)
        return self.lock_obj

    def reconcile(self, observed: Serving, *, follow: str | None = None) -> list[str]:
        self.log.append(f"follow {follow}")
        if self.leftover is None:
            return []
        self.serving, self.leftover = self.leftover, None
        return [f"finished the rollout a killed run left: {self.serving.describe()} serves"]

    def direct_url(self, attempt: Attempt) -> str | None:
        return self.direct

    def wait_healthy(self, attempt: Attempt) -> None:
        self.sleep(self.healthy_after)
        super().wait_healthy(attempt)

    def wait_shifted(self, attempt: Attempt) -> None:
        self.serving = self.after_shift or self.serving
        super().wait_shifted(attempt)

    def bake(self, attempt: Attempt, until: float, probe: Callable[[], str | None]) -> None:
        if self.breaks_in_bake:
            self.public_status = 503
        reason = probe()
        self.baked.append((until, reason))
        super().bake(attempt, until, probe)
        if reason:
            raise DeployFailed(f"the bake saw {reason}")

    def undo(self, attempt: Attempt) -> str:
        super().undo(attempt)
        return self.undo_note

    def discard(self, attempt: Attempt) -> None:
        super().discard(attempt)
        if self.discard_fails:
            raise DeployFailed(f"docker does not answer removing {attempt.release_id}")

    def record(self, attempt: Attempt, mark: Mark) -> None:
        super().record(attempt, mark)
        self.history.append(
            {"mark": mark, "shifted": attempt.shifted, "phase": attempt.phase}
            | {"by": (attempt.message, attempt.actor)}
        )

    def finish(self, attempt: Attempt, outcome: Outcome, after: Serving, message: str) -> None:
        super().finish(attempt, outcome, after, message)
        self.history.append({"outcome": outcome, "serving": after.release_id, "text": message})
        if self.finish_fails is not None:
            raise self.finish_fails


def make(tmp_path: Path, slack: FakeSlack | None = None, **verify: Any) -> Context:
    """A context whose console writes everything (lines, tables, warnings) to one buffer;
    after_deploy=True turns the load check on (no k6 script here: refused at once)."""
    load = {"after_deploy": verify.pop("after_deploy", False)}
    data: dict[str, Any] = {"environment": "test", "loadtest": load}
    data["verify"] = {"checks": VERSION_CHECK, **verify}
    if slack:
        data["notify"] = {"slack": {"webhook_url": {"env": "HOOK"}}}
    hook, said = slack.url + "/services/T/B/x" if slack else "", io.StringIO()
    config = validate.section(ShipyardConfig, data)
    return Context(config, tmp_path, console=Console(said, said), environ={"HOOK": hook})


def texts(slack: FakeSlack) -> list[str]:  # every message the webhook received, in order
    return [request["payload"]["text"] for request in slack.requests]


def said(ctx: Context) -> str:
    return str(ctx.console.out.getvalue())  # type: ignore[attr-defined]


def deploy(ctx: Context, world: World, **opts: Any) -> Any:
    gate = {"fetch": world.fetch, "clock": world.clock, "sleep": world.sleep}
    return api.deploy(ctx, NEW, DeployOptions(**opts), target=world, **gate)


def failure(ctx: Context, world: World, **opts: Any) -> ShipyardError:
    with pytest.raises(ShipyardError) as raised:
        deploy(ctx, world, **opts)
    return raised.value


def steps(world: World) -> list[str]:
    return [e for e in world.log if not e.startswith(("lock", "unlock", "held by", "follow"))]


# -- the gate before traffic moves ------------------------------------------------------------
def test_the_direct_gate_retries_without_warm_up_refuses_before_traffic_and_says_why(
    tmp_path: Path,
) -> None:
    """Before the shift, each check retries with backoff (retries=1: two tries, 2 s apart on
    the injected clock) and never waits out a warm-up (that is for traffic switches: 30 s
    configured here would mean fifteen more tries); the failure keeps its class (VerifyFailed)
    and names check, URL and answer; the table a user reads shows tries and time. A release
    passing it is checked again over the public URL once it serves; --no-verify checks
    neither."""
    ctx = make(tmp_path, retries=1, backoff_seconds=2, warmup_seconds=30)
    world = World(direct=DIRECT, direct_status=500)
    error = failure(ctx, world)
    assert type(error) is VerifyFailed
    assert error.message == (
        f"deploy of 2.0.0 failed: the new release failed /version on {DIRECT}: "
        "HTTP 500, expected 200; 1.0.0 (old) still serves"
    )
    assert steps(world) == [
        "prepare", "start", "wait_healthy", f"GET {DIRECT}/version", f"GET {DIRECT}/version",
        "discard", "finish:failed:old",
    ]  # fmt: skip
    assert f"verify {DIRECT}/version" in said(ctx)  # the progress line
    lines = said(ctx).splitlines()
    assert f"verify {DIRECT} (new release, direct)" in lines
    (row,) = [line.split() for line in lines if line.startswith("/version")]
    assert row[2:3] + row[-2:] == ["NG", "2", "2.0s"]
    assert error.result.seconds == 2.0  # type: ignore[attr-defined]
    world = World(direct=DIRECT)
    assert deploy(make(tmp_path), world).outcome == "succeeded"
    assert steps(world)[2:7] == [
        "wait_healthy", f"GET {DIRECT}/version", "shift", "wait_shifted", "GET http://memory/version",
    ]  # fmt: skip
    unchecked = World(direct=DIRECT, direct_status=500, public_status=500)
    assert deploy(make(tmp_path), unchecked, verify=False).outcome == "succeeded"
    assert not [e for e in unchecked.log if e.startswith("GET")]


# -- the gate after the shift, the bake ----------------------------------------------------------
def test_a_shift_that_did_not_move_traffic_fails_the_public_gate_and_is_switched_back(
    tmp_path: Path,
) -> None:
    """Once traffic moved, the public checks run once; what the user reads names the check,
    the URL requested and the body seen, under a progress line counting the checks. The
    load check ([loadtest].after_deploy) follows them in a deploy, never in a rollback."""
    ctx = make(tmp_path)
    world = World(after_shift=OLD)  # a listener still sends traffic to the old one
    error = failure(ctx, world)
    assert type(error) is RolledBack
    assert isinstance(error.__cause__, VerifyFailed)
    assert error.message == (
        "deploy of 2.0.0 failed: verify failed: /version on http://memory/version: "
        "body 'ok 1.0.0' lacks '2.0.0'; 1.0.0 (old) serves again"
    )
    assert "verify http://memory (1 checks)" in said(ctx)
    assert "verify http://memory" in said(ctx).splitlines()
    assert world.history[-1]["outcome"] == "rolled_back"
    loaded, back = make(tmp_path, after_deploy=True), World()
    error = failure(loaded, World())  # the load check is the gate's last part: undone alike
    assert (type(error), error.message) == (RolledBack, "deploy of 2.0.0 failed: loadtest.script: "
        "no k6 script at deploy/loadtest/sample-app.js; 1.0.0 (old) serves again")  # fmt: skip
    result = api.rollback(loaded, None, DeployOptions(), target=back, fetch=back.fetch)
    assert result.outcome == "succeeded"  # never on the way back


def test_the_bake_watches_until_its_deadline_with_the_public_checks_unless_no_verify(
    tmp_path: Path,
) -> None:
    """The bake is given `now + bake_seconds` on the engine's clock (after 42 s of health
    waiting) and a probe running the public checks once: a failure it finds is undone; with
    --no-verify, or no public URL (said), the probe checks nothing."""
    world = World(bake_for=90, healthy_after=42, breaks_in_bake=True)
    error = failure(make(tmp_path), world)
    reason = "/version on http://memory/version: HTTP 503, expected 200"
    assert world.baked == [(1000 + 42 + 90, reason)]
    assert type(error) is RolledBack
    assert "the bake saw /version on http://memory/version: HTTP 503" in error.message
    quiet = World(bake_for=90, breaks_in_bake=True)
    assert deploy(make(tmp_path), quiet, verify=False).outcome == "succeeded"
    assert quiet.baked == [(1090, None)]
    ctx, nowhere = make(tmp_path), World(url=None, bake_for=1)
    assert (deploy(ctx, nowhere).outcome, nowhere.baked) == ("succeeded", [(1001, None)])
    assert "warning: verify.url is not set: the release is not checked over HTTP" in said(ctx)


# -- endings: the words, the class, the exit code, the record ------------------------------
ENDINGS: dict[str, tuple[dict[str, Any], type[ShipyardError], int, str, str | None]] = {
    # name: World's settings -> class raised, exit code, message after "deploy of 2.0.0 ", hint
    "refused before the shift keeps its class and hint": (
        {"fail_at": "start", "error": UsageError("bad flag", hint="use --x")}, UsageError, 2,
        "failed: bad flag; 1.0.0 (old) still serves", "use --x"),
    "a crash is named by its type": (
        {"fail_at": "wait_healthy", "error": ValueError("no port")}, DeployFailed, 1,
        "failed: ValueError: no port; 1.0.0 (old) still serves", None),
    "switched back: no hint, no undo note": (
        {"fail_at": "bake", "error": UsageError("bad flag", hint="use --x")}, RolledBack, 1,
        "failed: bad flag; 1.0.0 (old) serves again", None),
    "an undo that fails: the new release serves, the note says why": (
        {"fail_at": "bake", "error": UsageError("bad flag", hint="use --x"), "undo_fails": True},
        DeployFailed, 1, "failed: bad flag; 2.0.0 (new) (the new release) serves: it could not "
        "be undone [could not return to 1.0.0 (old): cannot switch back]", "use --x"),
    "an undo that fails where another release serves says what serves now": (
        {"fail_at": "wait_shifted", "undo_fails": True, "after_shift": OTHER}, DeployFailed, 1,
        "failed: boom; 0.5.0 (other) serves now [could not return to 1.0.0 (old): cannot "
        "switch back]", None),
    "an interrupt after the shift says the undo's note": (
        {"fail_at": "wait_shifted", "error": KeyboardInterrupt()}, Interrupted, 130,
        "interrupted during wait_shifted; 1.0.0 (old) serves again [switched back]", None),
    "an empty undo note is not shown": (
        {"fail_at": "shift", "error": KeyboardInterrupt(), "undo_note": ""}, Interrupted, 130,
        "interrupted during shift; 1.0.0 (old) serves again", None),
    "a first deploy failing leaves nothing serving, as before": (
        {"fail_at": "prepare", "serving": NOTHING}, DeployFailed, 1,
        "failed: boom; nothing serves, as before", None),
    "what serves cannot be told: exit 3, with the undo's note": (
        {"fail_at": "bake", "dies_at": "discard", "error": UsageError("x", hint="h")},
        StateUnknown, 3, "failed: x; what serves cannot be told: engine unreachable "
        "[switched back]", None),
    "a rollout that finished into what cannot be told is unknown": (
        {"dies_at": "finalize"}, StateUnknown, 3, "failed: the rollout finished, but its release "
        "is not seen serving; what serves cannot be told: engine unreachable", None),
    "a rollout the target goes on with is said after what serves": (
        {"fail_at": "bake", "undo_fails": True, "after_shift": GOING}, DeployFailed, 1,
        "failed: boom; 2.0.0 (new) (the new release) serves: it could not be undone; deployment "
        "d-1 continues [could not return to 1.0.0 (old): cannot switch back]", None),
    "a rollout the failure already names as continuing is said once": (
        {"fail_at": "bake", "undo_fails": True, "after_shift": GOING,
         "error": DeployFailed("deployment d-1 continues")}, DeployFailed, 1,
        "failed: deployment d-1 continues; 2.0.0 (new) (the new release) serves: it could not "
        "be undone [could not return to 1.0.0 (old): cannot switch back]", None),
}  # fmt: skip


@pytest.mark.parametrize("name", ENDINGS)
def test_every_ending_says_what_was_observed_with_its_class_exit_code_and_record(
    tmp_path: Path, name: str
) -> None:
    """The message is built from what serves after the undo (never from what was intended),
    the class decides the exit code, the hint survives only a plain failure, and the last
    record carries the same outcome, what serves and the same words."""
    settings, cls, code, tail, hint = ENDINGS[name]
    message = f"deploy of 2.0.0 {tail}"
    world = World(**settings)
    error = failure(make(tmp_path), world)
    assert (type(error), error.exit_code, error.message, error.hint) == (cls, code, message, hint)
    result = error.result
    ending = (result.outcome, result.message, world.history[-1]["text"])  # type: ignore[attr-defined]
    assert ending == (world.records[-1][1], message, message)
    seen = Serving(False, detail="engine unreachable") if code == 3 else world.serving
    assert result.serving == serving_dict(seen)  # type: ignore[attr-defined]
    assert ("undo" in world.log) == (world.fail_at in ("shift", "wait_shifted", "bake", "finalize"))
    assert world.log[-1] == "unlock"


# -- success, --no-wait, what a result carries -----------------------------------------------
def test_a_success_reports_what_serves_and_records_each_mark_and_no_wait_is_in_progress(
    tmp_path: Path,
) -> None:
    """The result carries the facts a user and --json read (the time on the engine's clock);
    `begin` is recorded once prepare named the release, `shifting` with `shifted` set before
    the shift runs (a kill inside it must find that), `finalizing` before finalize; every
    record carries the request's message and actor. --no-wait on a detaching target ends
    in progress right after the shift, saying how to follow it."""
    world = World(healthy_after=42)
    result = deploy(make(tmp_path), world, message="hotfix 12", actor="ci-bot")
    assert (result.environment, result.version, result.digest) == ("test", "2.0.0", NEW.digest)
    assert (result.outcome, result.release_id, result.url) == ("succeeded", "new", "http://memory")
    assert (result.seconds, result.message) == (42.0, "2.0.0 serves (new serves)")
    assert result.details == {"kind": "deploy", "phase": "finalize", "task_definition_arn": (
        "arn:aws:ecs:x:1:task-definition/gp:7"), "deployment_id": "d-ABCDEF123"}  # fmt: skip
    assert result.serving == serving_dict(world.serving)
    marks = [(h["mark"], h["shifted"], h["phase"], h["by"]) for h in world.history if "mark" in h]
    by = ("hotfix 12", "ci-bot")
    assert marks == [
        ("begin", False, "prepare", by), ("shifting", True, "shift", by),
        ("finalizing", True, "finalize", by),
    ]  # fmt: skip
    assert world.history[-1] == {"outcome": "succeeded", "serving": "new", "text": result.message}
    assert world.log[-3:] == ["finalize", "finish:succeeded:new", "unlock"]
    ctx, world = make(tmp_path), World(detaches=True)
    result = deploy(ctx, world, wait=False)  # where the rollout goes on without us
    message = "2.0.0 (new) serves, not verified (--no-wait) (follow it: inv wait --env test)"
    assert (result.outcome, result.message) == ("in_progress", message)
    assert world.history[-1] == {"outcome": "in_progress", "serving": "new", "text": message}
    assert f"warning: {message}" in said(ctx)
    assert steps(world)[-2:] == ["shift", "finish:in_progress:new"]


# -- undo, discard and records that fail -----------------------------------------------------
def test_an_undo_or_discard_that_fails_is_said_and_the_ending_still_raised(tmp_path: Path) -> None:
    """An undo that fails is an error line naming the release it could not return to; a
    discard that fails is a warning saying how it gets removed later; a record that cannot
    be written (ShipyardError or OSError) does not hide the ending."""
    ctx = make(tmp_path)
    world = World(fail_at="bake", undo_fails=True, discard_fails=True, finish_fails=OSError("ro"))
    error = failure(ctx, world)
    assert type(error) is DeployFailed
    assert "[could not return to 1.0.0 (old): cannot switch back]" in error.message
    assert "error: could not return to 1.0.0 (old): cannot switch back" in said(ctx)
    assert (
        "warning: could not remove what deploy started: docker does not answer removing new "
        "(`inv wait --env test` removes it once that answers)" in said(ctx)
    )
    unwritable = World(fail_at="bake", finish_fails=DeployFailed("history is locked"))
    assert type(failure(make(tmp_path), unwritable)) is RolledBack


def test_fault_points_bracket_every_phase_and_a_failure_there_is_the_phases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`after:prepare` comes once `begin` is recorded; `before:shift` comes before `shifting`
    is recorded and before traffic can move, so nothing is undone; a signal at
    `before:prepare` is an interrupt during start-up."""
    monkeypatch.setenv("SHIPYARD_FAULT", "after:prepare:fail")
    error = failure(make(tmp_path), world := World())
    assert world.records == [("new", "begin"), ("new", "failed")]
    assert error.message == (
        "deploy of 2.0.0 failed: fault injected at after:prepare; 1.0.0 (old) still serves"
    )
    monkeypatch.setenv("SHIPYARD_FAULT", "before:shift:fail")
    error = failure(make(tmp_path), world := World())
    assert world.records == [("new", "begin"), ("new", "failed")]
    assert "undo" not in world.log
    assert error.result.details["phase"] == "verify_new"  # type: ignore[attr-defined]
    monkeypatch.setenv("SHIPYARD_FAULT", "before:prepare:sigint")
    error = failure(make(tmp_path), world := World())
    assert (type(error), error.exit_code) == (Interrupted, 130)
    assert error.message == "deploy of 2.0.0 interrupted during start-up; 1.0.0 (old) still serves"
    assert steps(world) == ["discard", "finish:interrupted:old"]


# -- the lock and the records put straight first --------------------------------------------
def test_the_lock_names_its_holder_by_the_request_or_by_kind_and_environment(
    tmp_path: Path,
) -> None:
    """The holder's message is what a second run is told; `inv wait` holds it as `wait ENV`,
    follows the rollout it names and says a takeover of a dead process's lock."""
    world = World()
    deploy(make(tmp_path), world, lock_wait=2.5)
    deploy(make(tmp_path), world, message="hotfix 12")
    ctx = make(tmp_path)
    cast(HolderLock, world.lock()).took_over = "ci on runner-7 (pid 9)"
    api.wait(ctx, follow="d-9", target=world)
    assert "took over the deploy lock left by ci on runner-7 (pid 9)" in said(ctx)
    assert [e for e in world.log if e.startswith(("held by", "follow"))] == [
        "held by 'deploy test' after waiting up to 2.5s", "follow None",
        "held by 'hotfix 12' after waiting up to 0.0s", "follow None",
        "held by 'wait test' after waiting up to 0.0s", "follow d-9",
    ]  # fmt: skip


def test_records_put_straight_first_are_warned_and_what_serves_is_observed_again(
    tmp_path: Path,
) -> None:
    """reconcile finishing a rollout a killed run left changes what serves: the rollout
    starts from (and its failure reports) that, not from the first look."""
    error = failure(ctx := make(tmp_path), World(leftover=MID, fail_at="start"))
    assert error.message == "deploy of 2.0.0 failed: boom; 1.1.0 (mid) still serves"
    assert "warning: finished the rollout a killed run left: 1.1.0 (mid) serves" in (said(ctx))
    settled = World(leftover=MID)
    assert api.wait(make(tmp_path), target=settled).release_id == "mid"


# -- notifications --------------------------------------------------------------------------
def test_a_rollout_announces_its_start_and_its_success_with_its_facts_unless_told_not_to(
    tmp_path: Path,
    slack_server: FakeSlack,  # noqa: F811
) -> None:
    """Start and success carry kind, version, environment, digest, actor, duration and the
    service's URL; --no-notify (or no channel) sends nothing; a rollback is named so."""
    world = World(healthy_after=75)
    deploy(make(tmp_path, slack=slack_server), world, actor="ci-bot")
    start, success = texts(slack_server)[:2]
    assert start.splitlines() == [
        "deploy 2.0.0 to test started",
        "Environment: test",
        "Version: 2.0.0",
        f"Digest: {NEW.digest}",
        "By: ci-bot",
        "Service: http://memory",
    ]
    assert success.splitlines()[0] == "deploy 2.0.0 to test succeeded"
    assert "Duration: 1m15s" in success.splitlines()
    deploy(make(tmp_path, slack=slack_server), World(), notify=False)
    deploy(make(tmp_path), World())  # no channel configured
    back = World()
    api.rollback(
        make(tmp_path, slack=slack_server), None, DeployOptions(), target=back, fetch=back.fetch
    )
    assert [t.splitlines()[0] for t in texts(slack_server)[2:]] == [
        "rollback 0.9.0 to test started",
        "rollback 0.9.0 to test succeeded",
    ]


@pytest.mark.parametrize(
    ("settings", "headline", "reason"),
    [
        ({"fail_at": "bake"}, "ROLLED BACK", "boom; 1.0.0 (old) serves again"),
        ({"fail_at": "wait_healthy"}, "FAILED", "boom; 1.0.0 (old) still serves"),
    ],
)
def test_a_failed_rollout_announces_its_ending_with_the_reason_a_user_reads(
    tmp_path: Path,
    slack_server: FakeSlack,  # noqa: F811
    settings: dict[str, Any],
    headline: str,
    reason: str,
) -> None:
    world = World(healthy_after=12, **settings)
    failure(make(tmp_path, slack=slack_server), world)
    ending = texts(slack_server)[-1].splitlines()
    assert len(texts(slack_server)) == 2
    assert ending[0] == f"deploy 2.0.0 to test {headline}"
    assert "Duration: 12.0s" in ending
    assert f"Reason: deploy of 2.0.0 failed: {reason}" in ending
