"""CodeDeploy for ECS blue/green: create a deployment from an AppSpec, follow it (status and
the ECS lifecycle events), stop it with rollback."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.adapters.aws import AwsClients, translate_errors
from shipyard.records import record

ACTIVE_STATUSES = ("Created", "Queued", "InProgress", "Baking", "Ready")


@record
class LifecycleEvent:
    name: str
    status: str  # Pending | InProgress | Succeeded | Failed | Skipped | Unknown


def appspec(
    taskdef_arn: str,
    container: str,
    port: int,
    hooks: Mapping[str, str],
    *,
    platform_version: str | None = None,
) -> dict[str, Any]:
    """The ECS AppSpec as data: one TargetService and the hooks in lifecycle order."""
    properties: dict[str, Any] = {
        "TaskDefinition": taskdef_arn,
        "LoadBalancerInfo": {"ContainerName": container, "ContainerPort": port},
    }
    if platform_version:
        properties["PlatformVersion"] = platform_version
    spec: dict[str, Any] = {
        "version": 0.0,
        "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": properties}}],
    }
    if hooks:
        spec["Hooks"] = [{name: fn} for name, fn in hooks.items()]
    return spec


class CodeDeploy:
    def __init__(self, aws: AwsClients) -> None:
        self.aws = aws

    @property
    def client(self) -> Any:
        return self.aws.client("codedeploy")

    def create(
        self,
        *,
        application: str,
        group: str,
        spec: Mapping[str, Any],
        config_name: str,
        description: str,
    ) -> str:
        content = json.dumps(spec, sort_keys=True)
        with translate_errors(f"codedeploy:CreateDeployment {application}/{group}"):
            answer = self.client.create_deployment(
                applicationName=application,
                deploymentGroupName=group,
                revision={
                    "revisionType": "AppSpecContent",
                    "appSpecContent": {
                        "content": content,
                        "sha256": hashlib.sha256(content.encode()).hexdigest(),
                    },
                },
                deploymentConfigName=config_name,
                description=description[:100],
                autoRollbackConfiguration={
                    "enabled": True,
                    "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
                },
            )
        return str(answer["deploymentId"])

    def get(self, deployment_id: str) -> dict[str, Any]:
        with translate_errors(f"codedeploy:GetDeployment {deployment_id}"):
            info: dict[str, Any] = self.client.get_deployment(deploymentId=deployment_id)[
                "deploymentInfo"
            ]
        return info

    def lifecycle(
        self, deployment_id: str, target_id: str | None
    ) -> tuple[str | None, list[LifecycleEvent]]:
        """(target id, lifecycle events) of the deployment's ECS target; the target id is
        looked up once and passed back in."""
        if target_id is None:
            with translate_errors(f"codedeploy:ListDeploymentTargets {deployment_id}"):
                ids = self.client.list_deployment_targets(deploymentId=deployment_id).get(
                    "targetIds", []
                )
            if not ids:
                return None, []
            target_id = str(ids[0])
        with translate_errors(f"codedeploy:GetDeploymentTarget {deployment_id}"):
            target = self.client.get_deployment_target(
                deploymentId=deployment_id, targetId=target_id
            ).get("deploymentTarget", {})
        events = target.get("ecsTarget", {}).get("lifecycleEvents", [])
        return target_id, [
            LifecycleEvent(e["lifecycleEventName"], e.get("status", "Unknown")) for e in events
        ]

    def stop(self, deployment_id: str, *, rollback: bool = True) -> tuple[str, str]:
        """(status, message): Pending while the rollback runs, Succeeded when stopped."""
        with translate_errors(f"codedeploy:StopDeployment {deployment_id}"):
            answer = self.client.stop_deployment(
                deploymentId=deployment_id, autoRollbackEnabled=rollback
            )
        return str(answer.get("status", "?")), str(answer.get("statusMessage", ""))

    def active(self, application: str, group: str) -> list[str]:
        with translate_errors(f"codedeploy:ListDeployments {application}/{group}"):
            answer = self.client.list_deployments(
                applicationName=application,
                deploymentGroupName=group,
                includeOnlyStatuses=list(ACTIVE_STATUSES),
            )
        return [str(d) for d in answer.get("deployments", [])]


def hook_order(hooks: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """The hooks in lifecycle order, whatever order the config listed them in."""
    return {name: hooks[name] for name in names if name in hooks}
