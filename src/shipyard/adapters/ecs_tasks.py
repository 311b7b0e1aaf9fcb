"""ECS tasks as `inv logs`, `inv exec` and `inv run` meet them: the service's tasks, one-off
tasks (run_task, describe_tasks, stop_task) and ECS Exec sessions (execute_command). Every
call goes through translate_errors, so a refusal is one line naming the action."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.adapters.aws import AwsClients, translate_errors
from shipyard.errors import DeployFailed

STARTED_BY = "shipyard-run"  # run_task's startedBy (at most 36 characters): finds ours again


def task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def _newest_first(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        tasks, key=lambda t: str(t.get("startedAt") or t.get("createdAt") or ""), reverse=True
    )


class EcsTasks:
    def __init__(self, aws: AwsClients) -> None:
        self.aws = aws

    @property
    def client(self) -> Any:
        return self.aws.client("ecs")

    @property
    def endpoint(self) -> str:
        """The ECS endpoint the client talks to (the Session Manager plugin is told it)."""
        return str(self.client.meta.endpoint_url)

    def of_service(
        self, cluster: str, service: str, *, status: str = "RUNNING"
    ) -> list[dict[str, Any]]:
        """The service's tasks with this desired status, newest first."""
        arns: list[str] = []
        kwargs: dict[str, Any] = {
            "cluster": cluster,
            "serviceName": service,
            "desiredStatus": status,
        }
        with translate_errors(f"ecs:ListTasks {service}"):
            while True:
                page = self.client.list_tasks(**kwargs)
                arns += page.get("taskArns", [])
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
        tasks = self.describe(cluster, arns)
        # ECS gives a service's tasks the group service:NAME; a listing that ignores
        # serviceName (moto's does) must not mix in one-off tasks of the cluster
        group = f"service:{service}"
        return _newest_first([t for t in tasks if t.get("group", group) == group])

    def describe(self, cluster: str, arns: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(arns), 100):  # the API takes a hundred at a time
            with translate_errors(f"ecs:DescribeTasks {cluster}"):
                answer = self.client.describe_tasks(
                    cluster=cluster, tasks=arns[start : start + 100]
                )
            found += answer.get("tasks", [])
        return found

    def describe_one(self, cluster: str, arn: str) -> dict[str, Any]:
        found = self.describe(cluster, [arn])
        if not found:
            raise DeployFailed(f"ECS no longer knows task {task_id(arn)} in {cluster}")
        return found[0]

    def run(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """run_task with `request` (one task); ECS refusing to place it is DeployFailed with
        its reason."""
        with translate_errors(f"ecs:RunTask {request.get('taskDefinition', '?')}"):
            answer = self.client.run_task(**request)
        tasks = answer.get("tasks", [])
        if not tasks:
            failures = answer.get("failures") or [{}]
            why = failures[0].get("reason") or "no task started"
            detail = failures[0].get("detail")
            raise DeployFailed(
                f"ECS did not start the task: {why}" + (f" ({detail})" if detail else ""),
                hint="check the cluster's capacity and the service's network configuration",
            )
        return dict(tasks[0])

    def stop(self, cluster: str, arn: str, reason: str) -> None:
        with translate_errors(f"ecs:StopTask {task_id(arn)}"):
            self.client.stop_task(cluster=cluster, task=arn, reason=reason[:255])

    def execute_command(
        self, cluster: str, task_arn: str, container: str, command: str
    ) -> dict[str, Any]:
        """Open an ECS Exec session (interactive is the only mode ECS offers); the answer
        holds the session the Session Manager plugin connects to."""
        with translate_errors(f"ecs:ExecuteCommand {task_id(task_arn)}"):
            answer: dict[str, Any] = self.client.execute_command(
                cluster=cluster,
                task=task_arn,
                container=container,
                command=command,
                interactive=True,
            )
        return answer
