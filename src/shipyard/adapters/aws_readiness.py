"""The read-only AWS questions `inv doctor` asks of an environment: who the credentials are,
whether the deploy role, repository, cluster, services, log groups, secrets and alarms exist.
Each answer is plain data; a refusal is an AwsError naming the action."""

from __future__ import annotations

from typing import Any

from shipyard.adapters.aws import AwsClients, error_code, translate_errors


class AwsReadiness:
    def __init__(self, aws: AwsClients) -> None:
        self.aws = aws

    def caller_identity(self) -> dict[str, Any]:
        with translate_errors("sts:GetCallerIdentity"):
            return dict(self.aws.client("sts").get_caller_identity())

    def role(self, name: str) -> dict[str, Any] | None:
        """The IAM role, None when it does not exist."""
        import botocore.exceptions as bx

        with translate_errors(f"iam:GetRole {name}"):
            try:
                return dict(self.aws.client("iam").get_role(RoleName=name)["Role"])
            except bx.ClientError as exc:
                if error_code(exc) == "NoSuchEntity":
                    return None
                raise

    def repository_uri(self, name: str) -> str:
        with translate_errors(f"ecr:DescribeRepositories {name}"):
            found = self.aws.client("ecr").describe_repositories(repositoryNames=[name])
        return str(found["repositories"][0]["repositoryUri"])

    def clusters(self, cluster: str) -> list[dict[str, Any]]:
        with translate_errors(f"ecs:DescribeClusters {cluster}"):
            return list(self.aws.client("ecs").describe_clusters(clusters=[cluster])["clusters"])

    def services(self, cluster: str, names: list[str]) -> list[dict[str, Any]]:
        with translate_errors(f"ecs:DescribeServices {cluster}"):
            found = self.aws.client("ecs").describe_services(cluster=cluster, services=names)
        return list(found.get("services", []))

    def log_group_names(self, prefix: str) -> list[str]:
        with translate_errors(f"logs:DescribeLogGroups {prefix}"):
            listed = self.aws.client("logs").describe_log_groups(logGroupNamePrefix=prefix)
        return [str(g["logGroupName"]) for g in listed.get("logGroups", [])]

    def describe_secret(self, secret_id: str, *, shown: str) -> None:
        with translate_errors(f"secretsmanager:DescribeSecret {shown}"):
            self.aws.client("secretsmanager").describe_secret(SecretId=secret_id)

    def get_parameter(self, name: str, *, shown: str) -> None:
        with translate_errors(f"ssm:GetParameter {shown}"):
            self.aws.client("ssm").get_parameter(Name=name)

    def alarm_states(self, names: list[str]) -> dict[str, str]:
        """State of each metric or composite alarm that exists, by name."""
        with translate_errors("cloudwatch:DescribeAlarms"):
            found = self.aws.client("cloudwatch").describe_alarms(AlarmNames=names)
        alarms = [*found.get("MetricAlarms", []), *found.get("CompositeAlarms", [])]
        return {str(a["AlarmName"]): str(a.get("StateValue", "?")) for a in alarms}
