"""ECS (and the ECR image check it needs before a deploy), as the few calls shipyard makes.

Every call goes through `translate_errors`, so an AWS refusal becomes one line naming the
action. Responses are returned as boto3 gives them (plain dicts): the targets read the fields
they need, and the Stubber tests check every request against the service model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.adapters.aws import AwsClients, translate_errors
from shipyard.errors import ConfigError
from shipyard.images import parse_image_ref

TAG_PREFIX = "shipyard:"


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["key"]: t["value"] for t in tags or []}


def family_of(taskdef_arn: str) -> str:
    return taskdef_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def revision_of(taskdef_arn: str) -> int:
    tail = taskdef_arn.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def short_arn(taskdef_arn: str | None) -> str:
    """shop-staging:12 for arn:aws:ecs:...:task-definition/shop-staging:12."""
    return taskdef_arn.rsplit("/", 1)[-1] if taskdef_arn else "-"


class EcsApi:
    def __init__(self, aws: AwsClients) -> None:
        self.aws = aws

    @property
    def client(self) -> Any:
        return self.aws.client("ecs")

    # -- services ------------------------------------------------------------------------
    def describe_services(self, cluster: str, names: list[str]) -> dict[str, dict[str, Any]]:
        """The named services by name; a missing or deleted service is a configuration error."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(names), 10):  # the API takes ten at a time
            chunk = names[start : start + 10]
            with translate_errors(f"ecs:DescribeServices {cluster}"):
                answer = self.client.describe_services(cluster=cluster, services=chunk)
            for svc in answer.get("services", []):
                if svc.get("status") == "ACTIVE":
                    found[svc["serviceName"]] = svc
        missing = [n for n in names if n not in found]
        if missing:
            raise ConfigError(
                f"ECS service {missing[0]!r} does not exist (or is not ACTIVE) "
                f"in cluster {cluster!r}",
                hint="create it first, or fix target.cluster / target.services "
                "in the environment file",
            )
        return found

    def describe_service(self, cluster: str, name: str) -> dict[str, Any]:
        return self.describe_services(cluster, [name])[name]

    def update_service(
        self,
        cluster: str,
        service: str,
        taskdef_arn: str,
        *,
        deployment_configuration: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "cluster": cluster,
            "service": service,
            "taskDefinition": taskdef_arn,
        }
        if deployment_configuration:
            kwargs["deploymentConfiguration"] = dict(deployment_configuration)
        with translate_errors(f"ecs:UpdateService {service}"):
            svc: dict[str, Any] = self.client.update_service(**kwargs)["service"]
        return svc

    # -- task definitions ----------------------------------------------------------------
    def register(self, document: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        family = document.get("family", "?")
        with translate_errors(f"ecs:RegisterTaskDefinition {family}"):
            answer = self.client.register_task_definition(**document, tags=tag_list(tags))
        return str(answer["taskDefinition"]["taskDefinitionArn"])

    def describe_task_definition(self, ref: str) -> tuple[dict[str, Any], dict[str, str]]:
        with translate_errors(f"ecs:DescribeTaskDefinition {ref}"):
            answer = self.client.describe_task_definition(taskDefinition=ref, include=["TAGS"])
        return dict(answer["taskDefinition"]), tag_dict(answer.get("tags"))

    def list_revisions(self, family: str) -> list[str]:
        """ACTIVE revisions of exactly this family, newest first."""
        arns: list[str] = []
        kwargs: dict[str, Any] = {"familyPrefix": family, "status": "ACTIVE", "sort": "DESC"}
        with translate_errors(f"ecs:ListTaskDefinitions {family}"):
            while True:
                page = self.client.list_task_definitions(**kwargs)
                arns.extend(a for a in page.get("taskDefinitionArns", []) if family_of(a) == family)
                token = page.get("nextToken")
                if not token:
                    break
                kwargs["nextToken"] = token
        return sorted(arns, key=revision_of, reverse=True)

    def tags(self, arn: str) -> dict[str, str]:
        with translate_errors(f"ecs:ListTagsForResource {short_arn(arn)}"):
            return tag_dict(self.client.list_tags_for_resource(resourceArn=arn).get("tags"))

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        with translate_errors(f"ecs:TagResource {short_arn(arn)}"):
            self.client.tag_resource(resourceArn=arn, tags=tag_list(tags))

    def deregister(self, arn: str) -> None:
        with translate_errors(f"ecs:DeregisterTaskDefinition {short_arn(arn)}"):
            self.client.deregister_task_definition(taskDefinition=arn)

    # -- tasks ---------------------------------------------------------------------------
    def stopped_tasks(self, cluster: str, service: str, taskdef_arn: str) -> list[dict[str, Any]]:
        """Stopped tasks of this service started from `taskdef_arn`, newest first."""
        with translate_errors(f"ecs:ListTasks {service}"):
            arns = self.client.list_tasks(
                cluster=cluster, serviceName=service, desiredStatus="STOPPED"
            ).get("taskArns", [])
        if not arns:
            return []
        with translate_errors(f"ecs:DescribeTasks {service}"):
            tasks = self.client.describe_tasks(cluster=cluster, tasks=arns[:100]).get("tasks", [])
        mine = [t for t in tasks if t.get("taskDefinitionArn") == taskdef_arn]
        return sorted(
            mine, key=lambda t: str(t.get("stoppedAt") or t.get("createdAt") or ""), reverse=True
        )


def parse_ecr_image(image: str) -> tuple[str | None, str, str | None]:
    """(registry id, repository, region) of an ECR reference; registry id None when the
    reference is not an ECR one."""
    ref = parse_image_ref(image)
    parts = (ref.host or "").split(".")
    if len(parts) >= 6 and parts[1:3] == ["dkr", "ecr"]:
        return parts[0], ref.repository, parts[3]
    return None, ref.repository, None


class EcrImages:
    def __init__(self, aws: AwsClients) -> None:
        self.aws = aws

    def holds(self, repository: str, digest: str, *, registry_id: str | None = None) -> bool:
        """True when ECR has an image with this digest (by digest: tags can move)."""
        import botocore.exceptions as bx

        kwargs: dict[str, Any] = {
            "repositoryName": repository,
            "imageIds": [{"imageDigest": digest}],
        }
        if registry_id:
            kwargs["registryId"] = registry_id
        client = self.aws.client("ecr")
        try:
            answer = client.describe_images(**kwargs)
        except bx.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
                return False
            with translate_errors(f"ecr:DescribeImages {repository}"):
                raise
        return any(d.get("imageDigest") == digest for d in answer.get("imageDetails", []))

    def digest_of(self, repository: str, tag: str) -> tuple[str, str] | None:
        """(digest, registry id) of repository:tag, or None when the tag is not there."""
        import botocore.exceptions as bx

        client = self.aws.client("ecr")
        try:
            answer = client.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
        except bx.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
                return None
            with translate_errors(f"ecr:DescribeImages {repository}:{tag}"):
                raise
        for detail in answer.get("imageDetails", []):
            return str(detail["imageDigest"]), str(detail.get("registryId", ""))
        return None
