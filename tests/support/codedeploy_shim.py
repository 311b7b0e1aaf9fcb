"""CodeDeploy ECS blue/green deployments that run to their end in moto, as CodeDeploy runs them.

moto 5 records a CodeDeploy deployment and leaves it at "Created" forever; it has no
ListDeploymentTargets, GetDeploymentTarget or StopDeployment. Inside
`codedeploy_deployments_complete()` (in the process that runs moto, like
tests/support/moto_rollforward.py's `ecs_rollouts_complete`), a deployment of an ECS deployment
group does what CodeDeploy does for ECS blue/green, one stage per GetDeployment call:

    Created     CreateDeployment checked the AppSpec: one AWS::ECS::Service target whose
                TaskDefinition is a registered, ACTIVE revision having the container and port
                of LoadBalancerInfo, and a deployment group naming one ECS service that uses
                the CODE_DEPLOY deployment controller; otherwise the deployment Fails with
                CodeDeploy's error code (and rolls back nothing, nothing having moved)
    InProgress  the replacement (green) task set is created with that task definition
                (BeforeInstall .. BeforeAllowTraffic succeeded, AllowTraffic in progress)
    Baking      production traffic is on the replacement: it becomes the PRIMARY task set,
                the original (blue) one ACTIVE; the termination wait runs
    Succeeded   the original task set is deleted; the service runs the new task definition

StopDeployment of an open deployment stops it; with autoRollbackEnabled a rollback
deployment (creator codeDeployRollback) puts the original task set back as PRIMARY, deletes
the replacement and Succeeds; rollbackInfo names it. GetDeploymentTarget reports the ECS
target's lifecycle events as they stand.

Not reproduced: the traffic itself (target groups and listeners are not touched), the
canary/linear timing of the deployment config (every config moves all traffic in one
stage), hooks (Lambda functions are never invoked), alarms stopping a deployment.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

LIFECYCLE = (
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "AllowTestTraffic",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
)
OPEN = ("Created", "Queued", "InProgress", "Baking", "Ready")


@dataclass
class EcsDeployment:
    """One deployment the shim drives (the moto DeploymentInfo holds status and times)."""

    deployment_id: str
    cluster: str = ""
    service: str = ""
    task_definition: str = ""
    original: str | None = None  # task set ARN that served when it started
    replacement: str | None = None
    events: dict[str, str] = field(default_factory=lambda: dict.fromkeys(LIFECYCLE, "Pending"))
    error: dict[str, str] = field(default_factory=dict)
    rollback: dict[str, str] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)  # every status it went through


@dataclass
class CodeDeployRecord:
    """What the shim saw: deployment id -> its ECS deployment, in creation order."""

    deployments: dict[str, EcsDeployment] = field(default_factory=dict)

    def succeeded(self) -> list[EcsDeployment]:
        return [d for d in self.deployments.values() if d.stages and d.stages[-1] == "Succeeded"]


def _ecs(backend: Any) -> Any:
    from moto.ecs.models import ecs_backends

    return ecs_backends[backend.account_id][backend.region_name]


def _spec(revision: dict[str, Any]) -> dict[str, Any]:
    kind = revision.get("revisionType")
    if kind == "AppSpecContent":
        content = (revision.get("appSpecContent") or {}).get("content") or ""
    elif kind == "String":
        content = (revision.get("string") or {}).get("content") or ""
    else:
        raise ValueError(f"revisionType {kind!r}: an ECS deployment takes its AppSpec inline")
    try:
        loaded = json.loads(content)
    except json.JSONDecodeError:
        loaded = yaml.safe_load(content)
    if not isinstance(loaded, dict):
        raise ValueError("the AppSpec is not a mapping")
    return loaded


def _check(backend: Any, info: Any, dep: EcsDeployment) -> None:
    """CodeDeploy's checks of an ECS deployment; raises ValueError(code, message)."""
    group = info.deployment_group
    services = list(group.ecs_services or [])
    if len(services) != 1:
        raise ValueError(
            "DEPLOYMENT_GROUP_MISSING", "the deployment group names no (or more than one) service"
        )
    dep.cluster = str(services[0].get("clusterName"))
    dep.service = str(services[0].get("serviceName"))
    ecs = _ecs(backend)
    svc = ecs.services.get(f"{dep.cluster}:{dep.service}")
    if svc is None or svc.status != "ACTIVE":
        raise ValueError("ECS_UPDATE_ERROR", f"service {dep.service} not found in {dep.cluster}")
    if (svc.deployment_controller or {}).get("type") != "CODE_DEPLOY":
        raise ValueError(
            "ECS_UPDATE_ERROR", f"service {dep.service} does not use the CODE_DEPLOY controller"
        )
    try:
        spec = _spec(info.revision)
    except ValueError as exc:
        raise ValueError("INVALID_REVISION", str(exc)) from None
    resources = spec.get("Resources") or []
    target = (resources[0] if resources else {}).get("TargetService") or {}
    if target.get("Type") != "AWS::ECS::Service":
        raise ValueError("INVALID_REVISION", "the AppSpec has no AWS::ECS::Service TargetService")
    props = target.get("Properties") or {}
    arn = str(props.get("TaskDefinition", ""))
    try:
        taskdef = ecs.describe_task_definition(arn)
    except Exception:  # moto raises its own ClientException
        raise ValueError("INVALID_REVISION", f"task definition {arn!r} does not exist") from None
    if getattr(taskdef, "status", "ACTIVE") != "ACTIVE":
        raise ValueError("INVALID_REVISION", f"task definition {arn} is {taskdef.status}")
    lb = props.get("LoadBalancerInfo") or {}
    containers = {c.get("name"): c for c in taskdef.container_definitions}
    container = containers.get(lb.get("ContainerName"))
    if container is None:
        raise ValueError("INVALID_REVISION", f"{arn} has no container {lb.get('ContainerName')!r}")
    ports = {int(m.get("containerPort", 0)) for m in container.get("portMappings") or []}
    if int(lb.get("ContainerPort") or 0) not in ports:
        raise ValueError(
            "INVALID_REVISION",
            f"container {lb.get('ContainerName')} has no port {lb.get('ContainerPort')}",
        )
    dep.task_definition = taskdef.arn
    primary = next((t for t in svc.task_sets if t.status == "PRIMARY"), None)
    dep.original = primary.task_set_arn if primary else None


class _Driver:
    def __init__(self, record: CodeDeployRecord) -> None:
        self.record = record
        self.lock = threading.RLock()

    def created(self, backend: Any, deployment_id: str) -> None:
        info = backend.deployments[deployment_id]
        dep = EcsDeployment(deployment_id)
        self.record.deployments[deployment_id] = dep
        dep.stages.append(info.status)
        try:
            _check(backend, info, dep)
        except ValueError as exc:
            code, message = exc.args if len(exc.args) == 2 else ("INTERNAL_ERROR", str(exc))
            dep.error = {"code": code, "message": message}

    def advance(self, backend: Any, deployment_id: str) -> None:
        with self.lock:
            dep = self.record.deployments.get(deployment_id)
            info = backend.deployments.get(deployment_id)
            if dep is None or info is None or info.status not in OPEN:
                return
            from moto.core.utils import utcnow

            ecs = _ecs(backend)
            if dep.error:
                info.status = "Failed"
                info.complete_time = utcnow()
            elif info.status == "Created":
                task_set = ecs.create_task_set(
                    dep.service,
                    dep.cluster,
                    dep.task_definition,
                    external_id=deployment_id,
                    launch_type="FARGATE",
                )
                dep.replacement = task_set.task_set_arn
                for name in LIFECYCLE[:6]:
                    dep.events[name] = "Succeeded"
                dep.events["AllowTraffic"] = "InProgress"
                info.status = "InProgress"
                info.start_time = utcnow()
            elif info.status == "InProgress":
                ecs.update_service_primary_task_set(dep.cluster, dep.service, dep.replacement)
                dep.events["AllowTraffic"] = "Succeeded"
                dep.events["AfterAllowTraffic"] = "Succeeded"
                info.status = "Baking"
                info.instance_termination_wait_time_started = True
            elif info.status == "Baking":
                if dep.original:
                    ecs.delete_task_set(dep.cluster, dep.service, dep.original)
                info.status = "Succeeded"
                info.complete_time = utcnow()
            dep.stages.append(info.status)

    def stop(self, backend: Any, deployment_id: str, rollback: bool) -> tuple[str, str]:
        from moto.core.utils import utcnow

        with self.lock:
            dep = self.record.deployments.get(deployment_id)
            info = backend.deployments[deployment_id]
            if info.status not in OPEN:
                return "Succeeded", f"deployment {deployment_id} already ended: {info.status}"
            info.status = "Stopped"
            info.complete_time = utcnow()
            if dep is None:
                return "Succeeded", "stopped"
            dep.stages.append("Stopped")
            dep.error = {"code": "DEPLOYMENT_STOPPED", "message": "stopped by StopDeployment"}
            if not (rollback and dep.replacement):
                return "Succeeded", "stopped; nothing had moved" if rollback else "stopped"
            ecs = _ecs(backend)
            back_id = backend.create_deployment(
                info.application_name,
                info.deployment_group_name,
                info.revision,
                info.deployment_config_name,
                f"rollback of {deployment_id}",
            )
            back = backend.deployments[back_id]
            back.creator = "codeDeployRollback"
            if dep.original:
                ecs.update_service_primary_task_set(dep.cluster, dep.service, dep.original)
            ecs.delete_task_set(dep.cluster, dep.service, dep.replacement)
            back.status = "Succeeded"
            back.start_time = back.complete_time = utcnow()
            self.record.deployments[back_id] = EcsDeployment(
                back_id, dep.cluster, dep.service, stages=["Created", "Succeeded"]
            )
            dep.rollback = {
                "rollbackDeploymentId": back_id,
                "rollbackMessage": f"Deployment {deployment_id} was rolled back by {back_id}",
            }
            return "Pending", f"rolling back in {back_id}"


@contextlib.contextmanager
def codedeploy_deployments_complete() -> Iterator[CodeDeployRecord]:
    """Patch moto's in-process CodeDeploy backend and responses (see the module doc)."""
    from moto.codedeploy import responses as cd_responses
    from moto.codedeploy.models import CodeDeployBackend
    from moto.core.responses import ActionResult

    record = CodeDeployRecord()
    driver = _Driver(record)
    original_create = CodeDeployBackend.create_deployment
    original_get = CodeDeployBackend.get_deployment
    original_info = cd_responses._deployment_info

    def create_deployment(self: Any, *args: Any, **kwargs: Any) -> str:
        deployment_id = original_create(self, *args, **kwargs)
        driver.created(self, deployment_id)
        return str(deployment_id)

    def get_deployment(self: Any, deployment_id: str) -> Any:
        driver.advance(self, deployment_id)
        return original_get(self, deployment_id)

    def deployment_info(deployment: Any) -> dict[str, Any]:
        info: dict[str, Any] = original_info(deployment)
        dep = record.deployments.get(deployment.deployment_id)
        if dep is not None:
            info["errorInformation"] = dict(dep.error)
            info["rollbackInfo"] = dict(dep.rollback)
        return info

    def list_deployment_targets(self: Any) -> Any:
        deployment_id = self._get_param("deploymentId")
        original_get(self.codedeploy_backend, deployment_id)  # exists, or the API's error
        dep = record.deployments.get(deployment_id)
        targets = [f"{dep.cluster}:{dep.service}"] if dep and dep.cluster else []
        return ActionResult({"targetIds": targets})

    def get_deployment_target(self: Any) -> Any:
        deployment_id = self._get_param("deploymentId")
        target_id = self._get_param("targetId")
        info = original_get(self.codedeploy_backend, deployment_id)
        dep = record.deployments.get(deployment_id)
        events = dep.events if dep else {}
        status = {"Baking": "InProgress", "Created": "Pending"}.get(info.status, info.status)
        target = {
            "deploymentId": deployment_id,
            "targetId": target_id,
            "status": status,
            "lifecycleEvents": [
                {"lifecycleEventName": name, "status": state} for name, state in events.items()
            ],
        }
        return ActionResult(
            {"deploymentTarget": {"deploymentTargetType": "ECSTarget", "ecsTarget": target}}
        )

    def stop_deployment(self: Any) -> Any:
        deployment_id = self._get_param("deploymentId")
        rollback = bool(self._get_param("autoRollbackEnabled"))
        original_get(self.codedeploy_backend, deployment_id)
        status, message = driver.stop(self.codedeploy_backend, deployment_id, rollback)
        return ActionResult({"status": status, "statusMessage": message})

    added = {
        "list_deployment_targets": list_deployment_targets,
        "get_deployment_target": get_deployment_target,
        "stop_deployment": stop_deployment,
    }
    CodeDeployBackend.create_deployment = create_deployment  # type: ignore[method-assign]
    CodeDeployBackend.get_deployment = get_deployment  # type: ignore[method-assign]
    cd_responses._deployment_info = deployment_info
    for name, function in added.items():
        setattr(cd_responses.CodeDeployResponse, name, function)
    try:
        yield record
    finally:
        CodeDeployBackend.create_deployment = original_create  # type: ignore[method-assign]
        CodeDeployBackend.get_deployment = original_get  # type: ignore[method-assign]
        cd_responses._deployment_info = original_info
        for name in added:
            delattr(cd_responses.CodeDeployResponse, name)
