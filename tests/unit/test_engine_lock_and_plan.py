"""The rollout engine's lock and plan, against the in-memory target: a rollout inside a release
that holds the environment's lock enters it again without a second acquisition (keyed by
checkout and environment); a lock taken over from a dead process is said; `inv wait` settles
under the same lock; a dry run plans the rollout it would run, taking no lock, recording
nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from shipyard.adapters.http import HttpAnswer
from shipyard.config.model import ShipyardConfig
from shipyard.console import Console
from shipyard.context import Context
from shipyard.locking import LockInfo
from shipyard.plan import Plan
from shipyard.rollout import api
from shipyard.rollout.lock import holding
from shipyard.rollout.model import Attempt
from shipyard.targets.base import DeployOptions
from tests.support.memory_target import NEW, MemoryLock, MemoryTarget


def answers_ok(url: str, timeout: float) -> HttpAnswer:
    return HttpAnswer(200, "ok 2.0.0")


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def ctx(tmp_path: Path, out: io.StringIO) -> Context:
    return Context(
        config=ShipyardConfig(environment="test"), root=tmp_path, console=Console(out, out)
    )


def test_a_rollout_inside_a_release_holding_the_lock_does_not_take_it_again(ctx: Context) -> None:
    target = MemoryTarget()
    with holding(target.lock(), root=ctx.root, environment=ctx.environment, message="release"):
        result = api.deploy(ctx, NEW, DeployOptions(), target=target, fetch=answers_ok)
        assert target.log.count("unlock") == 0  # still the release's
    assert result.outcome == "succeeded"
    assert target.log.count("lock") == 1
    assert target.log[-1] == "unlock"


def test_inv_wait_inside_the_lock_settles_without_taking_it_again(ctx: Context) -> None:
    target = MemoryTarget()
    with holding(target.lock(), root=ctx.root, environment=ctx.environment, message="release"):
        serving = api.wait(ctx, target=target)
    assert serving.release_id == "old"
    assert target.log.count("lock") == 1
    assert "reconcile" in target.log


def test_another_environment_or_checkout_takes_its_own_lock(ctx: Context, tmp_path: Path) -> None:
    target = MemoryTarget()
    other = MemoryTarget()
    with holding(target.lock(), root=ctx.root, environment="production", message="promote"):
        api.deploy(ctx, NEW, DeployOptions(), target=other, fetch=answers_ok)
    assert other.log.count("lock") == 1  # "test" is not "production": its own acquisition
    elsewhere = Context(config=ctx.config, root=tmp_path / "clone", console=Console(quiet=True))
    third = MemoryTarget()
    with holding(target.lock(), root=ctx.root, environment="test", message="release"):
        api.deploy(elsewhere, NEW, DeployOptions(), target=third, fetch=answers_ok)
    assert third.log.count("lock") == 1  # another checkout of the same environment


class TakenOver(MemoryLock):
    def acquire(self, message: str, *, wait: float = 0.0) -> LockInfo:
        super().acquire(message, wait=wait)
        return LockInfo(owner="me", since=0.0, message=message, took_over="ci on runner-7 (pid 9)")


def test_a_lock_taken_over_from_a_dead_process_is_said(ctx: Context, out: io.StringIO) -> None:
    target = MemoryTarget()
    target.lock_obj = TakenOver(target.log)
    api.deploy(ctx, NEW, DeployOptions(lock_wait=2.5), target=target, fetch=answers_ok)
    assert (
        "took over the deploy lock left by ci on runner-7 (pid 9) (that process is gone)"
        in out.getvalue()
    )


class Planning(MemoryTarget):
    def plan(self, attempt: Attempt) -> Plan:
        return Plan(f"{attempt.kind} {attempt.artifact.version} ({attempt.message})")


def test_a_dry_run_plans_the_rollout_it_would_run_and_touches_nothing(ctx: Context) -> None:
    target = Planning()
    result = api.deploy(
        ctx, NEW, DeployOptions(dry_run=True, message="hotfix"), target=target, fetch=answers_ok
    )
    assert result.outcome == "planned"
    assert result.plan is not None
    assert result.plan.title == "deploy 2.0.0 (hotfix)"
    assert target.log == []  # no lock, no phase
    assert target.records == []
    back = api.rollback(ctx, None, DeployOptions(dry_run=True), target=target)
    assert back.plan is not None
    assert back.plan.title == "rollback 0.9.0 (rollback to the previous good release)"
    assert target.log == ["choose:old"]
