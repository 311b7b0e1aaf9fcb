"""Several services in one environment against moto in server mode, driven through the rollout
engine (shipyard.rollout.api): every service gets the one digest, each its own task definition
family, and a failure of one rolls back the services already switched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import DeployFailed
from tests.conftest import MotoServer
from tests.support.moto_ecs import (
    App,
    app,
    client,
    deploy,
    make_ctx,
    metric_sum,
    push,
    rollouts,
    serving,
    setup_env,
    tags,
)

__all__ = ["app", "rollouts"]  # the fixtures these tests use


# -- several services ------------------------------------------------------------------------
def test_several_services_one_digest_and_a_failure_rolls_back_the_switched_ones(
    tmp_path: Path,
    aws: MotoServer,
    rollouts: None,
    app: tuple[str, type[App]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = ("api", "worker")
    setup_env(aws, names)
    ctx, _ = make_ctx(tmp_path, app[0], names)
    ok = deploy(ctx, push(aws, "1.1.0"))
    assert ok.outcome == "succeeded"
    assert (serving(aws, "api"), serving(aws, "worker")) == (
        "gamepulse-staging:2",
        "gamepulse-staging-worker:2",
    )
    api_doc = client("ecs", aws).describe_task_definition(taskDefinition="gamepulse-staging:2")[
        "taskDefinition"
    ]
    worker_doc = client("ecs", aws).describe_task_definition(
        taskDefinition="gamepulse-staging-worker:2"
    )["taskDefinition"]
    assert (
        api_doc["containerDefinitions"][0]["image"]
        == worker_doc["containerDefinitions"][0]["image"]
    )

    # next release: the worker's rollout never gets tasks running and the deployment FAILS
    from moto.ecs.models import EC2ContainerServiceBackend

    shimmed = EC2ContainerServiceBackend.update_service

    def worker_fails(self: Any, props: dict[str, Any]) -> Any:
        svc = shimmed(self, props)
        if svc.name == "worker" and str(svc.task_definition).endswith(":3"):
            svc.deployments[0].update(
                rolloutState="FAILED",
                runningCount=0,
                failedTasks=2,
                rolloutStateReason="tasks failed to start",
            )
        return svc

    # undone at the block's end, before `rollouts` restores moto's own update_service: the
    # test's monkeypatch (set up first, by `rollouts`) would otherwise put the shim back after
    # it and leave it for every later test in the process
    with monkeypatch.context() as patch:
        patch.setattr(EC2ContainerServiceBackend, "update_service", worker_fails)
        with pytest.raises(DeployFailed) as err:
            deploy(ctx, push(aws, "1.2.0"))
    assert "worker" in err.value.message
    assert (serving(aws, "api"), serving(aws, "worker")) == (
        "gamepulse-staging:2",
        "gamepulse-staging-worker:2",
    )
    assert tags(aws, "gamepulse-staging:3")["shipyard:outcome"] == "rolled_back"
    assert tags(aws, "gamepulse-staging-worker:3")["shipyard:outcome"] == "rolled_back"
    assert metric_sum(aws, "DeployFailure", "api") == 1
