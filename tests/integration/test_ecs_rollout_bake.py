"""The rolling ECS target's bake (target.bake_seconds) under the rollout engine: a task of the
new revision failing, or the release breaking (its checks fail), while baking rolls back; a
release that holds succeeds once the bake is over. Stubber sequences checked against the ECS
service model; verify talks to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import RolledBack
from tests.support.ecs_stubs import (
    BACK_DONE,
    DONE,
    NEW,
    OLD,
    FakeClock,
    Site,
    Stubs,
    creds,
    dep,
    deploy,
    ended,
    make_ctx,
    revert,
    rolling_target,
    service,
    site,
)

__all__ = ["creds", "site"]  # the fixtures these tests use


def test_a_task_failing_while_baking_rolls_back(tmp_path: Path, creds: None, site: Site) -> None:
    ctx, out = make_ctx(
        tmp_path, "staging", site.url, **{"target.bake_seconds": 10, "target.poll_seconds": 5}
    )
    clock = FakeClock()
    crashed = service([dep("ecs-svc/new", "PRIMARY", NEW, "COMPLETED", 1, failed=1, minute=5)])
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(DONE)  # watch: COMPLETED and PRIMARY
        stubs.describe(DONE)  # bake, t=0
        stubs.describe(crashed)  # bake, t=5: a task of :5 failed
        stubs.no_stopped_tasks()
        revert(stubs, crashed)
        ended(stubs, BACK_DONE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert "1 task(s) of gamepulse-staging:5 failed while baking" in err.value.message
    assert stubs.updates == [NEW, OLD]
    assert "verify http://127.0.0.1" in out.getvalue()


BREAKS = {  # what changes during the bake -> what the failure names
    "health 502": ("health", 502, "HTTP 502"),
    "another version answers": ("version", "1.3.0", "1.3.0"),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_the_release_breaking_while_baking_is_caught_by_the_probe(
    tmp_path: Path, creds: None, site: Site, case: str
) -> None:
    """Each poll of the bake runs the live checks, the version among them: the release falling
    over, or another release's version answering, ends the bake and rolls back."""
    attr, value, named = BREAKS[case]

    class Breaks(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            setattr(site.app, attr, value)

    ctx, _ = make_ctx(
        tmp_path, "staging", site.url, **{"target.bake_seconds": 10, "target.poll_seconds": 5}
    )
    clock = Breaks()
    with Stubs(ctx) as stubs:
        stubs.start()
        stubs.describe(DONE)
        stubs.describe(DONE)  # bake t=0: fine, checks pass
        stubs.describe(DONE)  # bake t=5: still PRIMARY, but the checks fail
        revert(stubs, DONE)
        ended(stubs, BACK_DONE)
        with pytest.raises(RolledBack) as err:
            deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert "while baking" in err.value.message
    assert named in err.value.message
    assert stubs.outcomes(NEW) == ["shifting", "rolled_back"]


def test_bake_passes_when_the_release_holds(tmp_path: Path, creds: None, site: Site) -> None:
    ctx, _ = make_ctx(
        tmp_path, "staging", site.url, **{"target.bake_seconds": 10, "target.poll_seconds": 5}
    )
    clock = FakeClock()
    with Stubs(ctx) as stubs:
        stubs.start()
        for _ in range(4):  # watch, bake at t=0, 5, 10
            stubs.describe(DONE)
        ended(stubs, DONE)
        result = deploy(ctx, clock, rolling_target(ctx, clock))
        stubs.done()
    assert result.outcome == "succeeded"
    assert clock.now - 1000.0 == pytest.approx(10, abs=0.1)
