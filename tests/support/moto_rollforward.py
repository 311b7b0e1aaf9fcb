"""moto with ECS rollouts that complete, and ECR images without an engine.

moto 5.x answers update_service by changing the service's task definition only: it keeps the
original deployment record (same id, the OLD task definition, rolloutState COMPLETED) and starts
no tasks. A tool that follows the new deployment never sees one. `ecs_rollouts_complete()`
patches moto's backend (in the process serving moto) to do what ECS does when a rollout
succeeds at once: a new PRIMARY deployment for the new revision (COMPLETED when
MOTO_ECS_SERVICE_RUNNING >= the desired count, IN_PROGRESS otherwise), the old tasks stopped and
new RUNNING tasks started. `push_image` puts a manifest into moto's ECR.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def ecs_rollouts_complete() -> Iterator[None]:
    """Make moto's update_service start a new deployment as ECS does (see module doc)."""
    from moto.core.utils import utcnow
    from moto.ecs.models import EC2ContainerServiceBackend, Task
    from moto.moto_api import state_manager
    from moto.moto_api._internal import mock_random

    original = EC2ContainerServiceBackend.update_service

    def update_service(self: Any, props: dict[str, Any]) -> Any:
        cluster = props.get("cluster", "default")
        name = str(props.get("service", "")).split("/")[-1]
        before = self._get_service(cluster, name).task_definition
        service = original(self, props)
        if service.task_definition == before:
            return service
        running = min(
            max(int(os.environ.get("MOTO_ECS_SERVICE_RUNNING", "0") or 0), 0), service.desired_count
        )
        dep_id = f"ecs-svc/{mock_random.randint(0, 32**12)}"
        now = utcnow()
        complete = running >= service.desired_count
        service.deployments = [
            {
                "id": dep_id,
                "status": "PRIMARY",
                "taskDefinition": service.task_definition,
                "desiredCount": service.desired_count,
                "runningCount": running,
                "pendingCount": service.desired_count - running,
                "failedTasks": int(os.environ.get("MOTO_ECS_SERVICE_FAILED_TASKS", "0") or 0),
                "rolloutState": "COMPLETED" if complete else "IN_PROGRESS",
                "rolloutStateReason": f"ECS deployment {dep_id} "
                + ("completed." if complete else "in progress."),
                "createdAt": now,
                "updatedAt": now,
                "launchType": service.launch_type or "FARGATE",
            }
        ]
        group = f"service:{name}"
        for task in self.tasks.get(service.cluster_name, {}).values():
            if task.group == group:
                task.last_status = "STOPPED"
                task.desired_status = "STOPPED"
        # run_task insists on container-level memory, which Fargate task definitions need not
        # have: build the tasks as run_task does for FARGATE.
        cluster_obj = self._get_cluster(cluster)
        taskdef = self.describe_task_definition(service.task_definition)
        # moto's awsvpc tasks need an ENI it fails to make here; these tasks need no network
        mode, taskdef.network_mode = taskdef.network_mode, None
        try:
            for _ in range(running):
                task = Task(
                    cluster=cluster_obj,
                    task_definition=taskdef,
                    container_instance_arn=None,
                    resource_requirements={},
                    backend=self,
                    group=group,
                    overrides={},
                    started_by=dep_id,
                    tags=[],
                    launch_type="FARGATE",
                    networking_configuration=None,
                )
                self.tasks.setdefault(cluster_obj.name, {})[task.task_arn] = task
        finally:
            taskdef.network_mode = mode
        return service

    state_manager.set_transition(
        model_name="ecs::task", transition={"progression": "manual", "times": 10**9}
    )
    EC2ContainerServiceBackend.update_service = update_service  # type: ignore[method-assign]
    try:
        yield
    finally:
        EC2ContainerServiceBackend.update_service = original  # type: ignore[method-assign]
        state_manager.unset_transition(model_name="ecs::task")


def push_image(ecr: Any, repository: str, tag: str) -> str:
    """An image manifest in moto's ECR; returns its digest."""
    layer = hashlib.sha256(tag.encode()).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 7,
                "digest": f"sha256:{layer}",
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 7,
                    "digest": f"sha256:{layer}",
                }
            ],
        }
    )
    answer = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)
    return str(answer["image"]["imageId"]["imageDigest"])
