"""Which revision `inv rollback` returns an ECS service to, on moto server (issue 13 items 6 and
7), in the histories where only one rule decides:

- a NEWER revision recorded succeeded that no rollback left (someone returned the service to
  an older revision by hand, outside shipyard): `inv rollback` never goes forward to it;
- `--to VERSION` where the newest revision carrying it failed its rollout and an older one
  succeeded: the one that succeeded, never the failed one;
- `--to VERSION` whose every revision failed: refused, naming what was found.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.errors import RolledBack, UsageError
from tests.conftest import MotoServer
from tests.integration.test_ecs_moto import (
    ACCOUNT,
    CLUSTER,
    REGION,
    App,
    app,
    client,
    deploy,
    make_ctx,
    push,
    rollback,
    rollouts,
    serving,
    setup_env,
    tag,
    tags,
)

__all__ = ["app", "rollouts"]  # the fixtures these tests use


def test_rollback_never_goes_forward_to_a_newer_good_revision_nobody_left(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    """1.0.0 (:1), 1.1.0 (:2), 1.2.0 (:3), each deployed and recorded succeeded; then the
    service was put back on :2 by hand (update-service outside shipyard: :3 carries no
    rolled-back-at mark). `inv rollback` from :2 returns to :1, the newest EARLIER good one."""
    setup_env(aws)
    url, handler = app
    ctx, _ = make_ctx(tmp_path, url)
    for version in ("1.1.0", "1.2.0"):
        handler.version = version
        deploy(ctx, push(aws, version))
    client("ecs", aws).update_service(
        cluster=CLUSTER,
        service="gamepulse-staging",
        taskDefinition=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/gamepulse-staging:2",
    )
    assert serving(aws) == "gamepulse-staging:2"
    assert tags(aws, "gamepulse-staging:3")["shipyard:outcome"] == "succeeded"
    assert "shipyard:rolled-back-at" not in tags(aws, "gamepulse-staging:3")

    handler.version = "1.0.0"
    result = rollback(ctx, None)

    assert result.release_id.endswith("gamepulse-staging:1")
    assert result.version == "1.0.0"
    assert serving(aws) == "gamepulse-staging:1"


def test_rollback_to_a_version_takes_the_revision_that_succeeded_not_a_newer_failed_one(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    """1.1.0 succeeded as :2; 1.2.0 as :3; 1.1.0 deployed again as :4 failed its verify
    (rolled back). `inv rollback --to 1.1.0` returns to :2, never to the failed :4."""
    setup_env(aws)
    url, handler = app
    ctx, _ = make_ctx(tmp_path, url)
    for version in ("1.1.0", "1.2.0"):
        handler.version = version
        deploy(ctx, push(aws, version))
    handler.version = "1.2.0"  # 1.1.0 answers the wrong version: its verify fails
    with pytest.raises(RolledBack):
        deploy(ctx, push(aws, "1.1.0"))
    assert tags(aws, "gamepulse-staging:4")["shipyard:outcome"] == "rolled_back"
    assert serving(aws) == "gamepulse-staging:3"

    handler.version = "1.1.0"
    result = rollback(ctx, "1.1.0")

    assert result.release_id.endswith("gamepulse-staging:2")
    assert serving(aws) == "gamepulse-staging:2"


def test_rollback_to_a_version_that_never_succeeded_is_refused_naming_what_was_found(
    tmp_path: Path, aws: MotoServer, rollouts: None, app: tuple[str, type[App]]
) -> None:
    setup_env(aws)
    url, handler = app
    ctx, _ = make_ctx(tmp_path, url)
    handler.version = "1.1.0"
    deploy(ctx, push(aws, "1.1.0"))  # :2
    tag(aws, "gamepulse-staging:1", outcome="failed")  # 1.0.0's record: its rollout failed

    with pytest.raises(UsageError) as err:
        rollback(ctx, "1.0.0")

    assert "no revision of gamepulse-staging whose rollout succeeded carries version" in str(
        err.value
    )
    assert "1.0.0 failed" in (err.value.hint or "")
    assert serving(aws) == "gamepulse-staging:2"
