"""Read-only questions to ECS about what an environment runs: its services, the task
definitions they run or can roll back to, and the containers of their running tasks.

The cleanup asks them to keep every image in use; promote to find the image that serves.
"""

from __future__ import annotations

from typing import Any

from shipyard.adapters.aws import AwsClients, error_code, translate_errors

DESCRIBE_SERVICES_BATCH = 10  # describe_services takes ten names at a time
DESCRIBE_TASKS_BATCH = 100


class EcsInventory:
    def __init__(self, aws: AwsClients) -> None:
        self.aws = aws

    @property
    def client(self) -> Any:
        return self.aws.client("ecs")

    def services(
        self, cluster: str, names: list[str], *, cluster_may_be_missing: bool = True
    ) -> tuple[list[dict[str, Any]], list[str]] | None:
        """The services ECS describes (any status) and the names it reports as failures;
        None when the cluster does not exist and may be missing, else that is an AwsError."""
        import botocore.exceptions as bx

        ecs = self.client
        described: list[dict[str, Any]] = []
        failed: list[str] = []
        for start in range(0, len(names), DESCRIBE_SERVICES_BATCH):
            batch = names[start : start + DESCRIBE_SERVICES_BATCH]
            with translate_errors(f"ecs:DescribeServices {cluster}"):
                try:
                    response = ecs.describe_services(cluster=cluster, services=batch)
                except bx.ClientError as exc:
                    if cluster_may_be_missing and error_code(exc) == "ClusterNotFoundException":
                        return None
                    raise
            described.extend(response.get("services") or [])
            for failure in response.get("failures") or []:
                failed.append(str(failure.get("arn", "?")).rsplit("/", 1)[-1])
        return described, failed

    def task_definition(self, arn: str) -> dict[str, Any]:
        with translate_errors(f"ecs:DescribeTaskDefinition {arn}"):
            answer = self.client.describe_task_definition(taskDefinition=arn)
        return dict(answer["taskDefinition"])

    def recent_revisions(self, family: str, count: int) -> list[str]:
        """The `count` newest ACTIVE revisions of the family, newest first."""
        with translate_errors(f"ecs:ListTaskDefinitions {family}"):
            listed = self.client.list_task_definitions(
                familyPrefix=family, status="ACTIVE", sort="DESC", maxResults=count
            )
        return [str(arn) for arn in listed.get("taskDefinitionArns") or []]

    def running_containers(self, cluster: str, service: str) -> list[dict[str, Any]]:
        """The containers of the service's running tasks, as describe_tasks reports them."""
        ecs = self.client
        with translate_errors(f"ecs:ListTasks {cluster}/{service}"):
            arns: list[str] = []
            pages = ecs.get_paginator("list_tasks").paginate(cluster=cluster, serviceName=service)
            for page in pages:
                arns.extend(page.get("taskArns") or [])
        containers: list[dict[str, Any]] = []
        for start in range(0, len(arns), DESCRIBE_TASKS_BATCH):
            with translate_errors(f"ecs:DescribeTasks {cluster}"):
                batch = arns[start : start + DESCRIBE_TASKS_BATCH]
                tasks = ecs.describe_tasks(cluster=cluster, tasks=batch)
            for task in tasks.get("tasks") or []:
                containers.extend(task.get("containers") or [])
        return containers
