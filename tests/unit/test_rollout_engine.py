"""The rollout engine's policy, against an in-memory target: which phases run in which order,
when undo runs, what is recorded and raised. The target keeps its own truth (what serves), so
every outcome the engine reports is checked against that, never against what was intended."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    StateUnknown,
    Superseded,
    VerifyFailed,
)
from shipyard.rollout import api
from shipyard.rollout.lock import holding, is_held
from shipyard.rollout.model import Serving
from shipyard.targets.base import DeployOptions
from tests.support.memory_target import NEW, OLD, MemoryTarget


def always_ok(url: str, timeout: float) -> HttpAnswer:
    return HttpAnswer(200, "ok 2.0.0")


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return Context(
        config=ShipyardConfig(environment="test"), root=tmp_path, console=Console(quiet=True)
    )


def deploy(ctx: Context, target: MemoryTarget, **opts: Any) -> Any:
    return api.deploy(ctx, NEW, DeployOptions(**opts), target=target, fetch=always_ok)


def phase_log(target: MemoryTarget) -> list[str]:
    return [e for e in target.log if e not in ("lock", "unlock", "reconcile")]


def test_success_runs_every_phase_in_order_and_records_from_what_serves(ctx: Context) -> None:
    target = MemoryTarget()
    result = deploy(ctx, target)
    assert phase_log(target) == [
        "prepare",
        "start",
        "wait_healthy",
        "shift",
        "wait_shifted",
        "bake",
        "finalize",
        "finish:succeeded:new",
    ]
    assert target.records == [
        ("new", "begin"),
        ("new", "shifting"),
        ("new", "finalizing"),
        ("new", "succeeded"),
    ]
    assert result.outcome == "succeeded"
    assert result.serving["release_id"] == "new"
    assert target.log[0] == "lock"
    assert target.log[-1] == "unlock"


@pytest.mark.parametrize("phase", ["prepare", "start", "wait_healthy"])
def test_a_failure_before_the_shift_discards_without_undo(ctx: Context, phase: str) -> None:
    target = MemoryTarget(fail_at=phase)
    with pytest.raises(DeployFailed) as raised:
        deploy(ctx, target)
    assert type(raised.value) is DeployFailed
    assert "undo" not in target.log
    assert "discard" in target.log
    assert "1.0.0 (old) still serves" in raised.value.message
    assert target.log[-2] == "finish:failed:old"
    assert not target.lock().held


@pytest.mark.parametrize("phase", ["shift", "wait_shifted", "bake", "finalize"])
def test_a_failure_after_the_shift_starts_undoes_and_says_rolled_back(
    ctx: Context, phase: str
) -> None:
    target = MemoryTarget(fail_at=phase)
    with pytest.raises(RolledBack) as raised:
        deploy(ctx, target)
    assert target.log.index("undo") < target.log.index("discard")
    assert "1.0.0 (old) serves again" in raised.value.message
    assert target.serving.release_id == "old"
    assert raised.value.result.outcome == "rolled_back"
    assert raised.value.result.serving["release_id"] == "old"


def test_superseded_is_never_undone(ctx: Context) -> None:
    target = MemoryTarget(fail_at="wait_shifted", error=Superseded("their :3 is PRIMARY"))
    with pytest.raises(Superseded) as raised:
        deploy(ctx, target)
    assert "undo" not in target.log
    assert raised.value.exit_code == 1
    assert target.records[-1] == ("new", "superseded")


@pytest.mark.parametrize("signal_error", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_after_the_shift_undoes_and_exits_130(
    ctx: Context, signal_error: type[BaseException]
) -> None:
    target = MemoryTarget(fail_at="bake", error=signal_error)
    with pytest.raises(Interrupted) as raised:
        deploy(ctx, target)
    assert raised.value.exit_code == 130
    assert "undo" in target.log
    assert "interrupted during bake" in raised.value.message
    assert "1.0.0 (old) serves again" in raised.value.message
    assert target.records[-1] == ("new", "interrupted")


def test_an_undo_that_fails_reports_the_new_release_serving(ctx: Context) -> None:
    target = MemoryTarget(fail_at="bake", undo_fails=True)
    with pytest.raises(DeployFailed) as raised:
        deploy(ctx, target)
    assert type(raised.value) is DeployFailed
    assert "2.0.0 (new) (the new release) serves" in raised.value.message
    assert target.log[-2] == "finish:failed:new"


def test_what_cannot_be_observed_is_exit_3(ctx: Context) -> None:
    target = MemoryTarget(fail_at="bake", observe_fails_after=True)
    with pytest.raises(StateUnknown) as raised:
        deploy(ctx, target)
    assert raised.value.exit_code == 3
    assert "cannot be told" in raised.value.message


def test_a_finished_rollout_whose_release_does_not_serve_is_not_a_success(
    ctx: Context,
) -> None:
    target = MemoryTarget()
    target.finalize = lambda _attempt: setattr(target, "serving", OLD)  # type: ignore[method-assign]
    with pytest.raises(DeployFailed) as raised:
        deploy(ctx, target)
    assert raised.value.message == (
        "deploy of 2.0.0 failed: the rollout finished, but its release is not seen serving; "
        "1.0.0 (old) serves again"
    )


def test_the_rollback_target_is_chosen_inside_the_lock(ctx: Context) -> None:
    target = MemoryTarget()
    api.rollback(ctx, None, DeployOptions(), target=target, fetch=always_ok)
    assert target.log.index("lock") < target.log.index("choose:old") < target.log.index("prepare")


def test_the_lock_is_reentrant_within_a_process(ctx: Context) -> None:
    target = MemoryTarget()
    lock = target.lock()
    with holding(lock, root=ctx.root, environment="test", message="release"):
        assert is_held(ctx.root, "test")
        deploy(ctx, target)
        assert lock.held
    assert not lock.held
    assert target.log.count("lock") == 1


def test_no_wait_returns_after_the_shift_only_where_the_rollout_detaches(ctx: Context) -> None:
    detached = MemoryTarget(detaches=True)
    detached.observe = lambda: Serving(  # type: ignore[method-assign]
        True, "new", "2.0.0", "", "rolling", continuing="deployment d-1 continues"
    )
    result = deploy(ctx, detached, wait=False)
    assert result.outcome == "in_progress"
    assert "wait_shifted" not in detached.log
    assert "deployment d-1 continues" in result.message
    attached = MemoryTarget(detaches=False)
    assert deploy(ctx, attached, wait=False).outcome == "succeeded"
    assert "finalize" in attached.log


def test_the_verify_gate_after_the_shift_fails_fast_and_undoes(tmp_path: Path) -> None:
    config = validate.section(
        ShipyardConfig,
        {
            "environment": "test",
            "verify": {"checks": [{"path": "/version", "contains": "{version}"}]},
        },
    )
    ctx = Context(config=config, root=tmp_path, console=Console(quiet=True))
    target = MemoryTarget()
    calls: list[str] = []

    def wrong_version(url: str, timeout: float) -> HttpAnswer:
        calls.append(url)
        return HttpAnswer(200, "ok 1.0.0")

    with pytest.raises(RolledBack) as raised:
        api.deploy(ctx, NEW, DeployOptions(), target=target, fetch=wrong_version)
    assert isinstance(raised.value.__cause__, VerifyFailed)
    assert len(calls) == 1, "no retries once traffic moved"
    assert "lacks '2.0.0'" in raised.value.message
    assert target.serving.release_id == "old"


def test_no_verify_skips_the_gate(ctx: Context) -> None:
    target = MemoryTarget()

    def fails(url: str, timeout: float) -> HttpAnswer:
        return HttpAnswer(500, "down")

    api.deploy(ctx, NEW, DeployOptions(verify=False), target=target, fetch=fails)
    assert target.records[-1] == ("new", "succeeded")
