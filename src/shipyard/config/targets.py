"""Deploy targets: where a release runs. One section per kind, chosen by `kind`."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator

from shipyard.config.base import Section

DOCKER_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"  # what Docker accepts as a network or volume name
NGINX_BINARY = r"^[A-Za-z0-9_.+/-]+$"  # shipyard runs it, often as root: a plain name or path


class LocalTargetConfig(Section):
    """This machine's Docker engine, blue/green behind an nginx shipyard runs itself."""

    kind: Literal["local"] = Field(
        default="local", description="blue/green on this machine's Docker engine behind nginx"
    )
    proxy_bind: str = Field(
        default="127.0.0.1",
        description="the IP address nginx listens on (a host name is not accepted)",
    )
    proxy_port: int = Field(
        default=8080,
        ge=1,
        le=65535,
        description="the port nginx listens on; the URL users and verify use unless verify.url "
        "is set",
    )
    bake_seconds: float = Field(
        default=5.0,
        ge=0,
        description="after the switch the new release is watched this long while the "
        "previous one keeps running (and finishes the requests it holds); a failure in it "
        "switches back",
    )
    healthy_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how long to wait for Docker to report every essential container healthy",
    )
    keep_releases: int = Field(
        default=3, ge=1, description="inv cleanup keeps the images of this many recent releases"
    )
    network: str | None = Field(
        default=None,
        pattern=DOCKER_NAME,
        description="the Docker network of the stack; unset: shipyard-<stack>",
    )
    stack: str | None = Field(
        default=None,
        pattern=DOCKER_NAME,
        description="names the containers, network and volumes; unset: "
        "<image repository>-<environment>-<hash of the checkout path>",
    )
    stop_timeout_seconds: int = Field(
        default=10,
        ge=0,
        description="docker stop's grace period, unless the container's stopTimeout says",
    )
    pull_missing_images: bool = Field(
        default=False,
        description="pull images the engine lacks from any registry; off: only from the "
        "configured registry, and a non-essential container whose image is missing is "
        "skipped with a warning",
    )
    nginx: str = Field(
        default="nginx", pattern=NGINX_BINARY, description="the nginx binary: a name or a path"
    )

    @field_validator("proxy_bind")
    @classmethod
    def _an_address(cls, value: str) -> str:

        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(
                f"expected an IP address such as 127.0.0.1 or 0.0.0.0, got {value!r} "
                "(nginx listens on it; a host name is not accepted)"
            ) from None
        if "%" in value:
            # ipaddress accepts any text after % as an IPv6 scope id (`::1%x; } ...`), and it
            # would be written into nginx's configuration, which cannot listen on one anyway
            raise ValueError(f"expected an IP address without a %scope, got {value!r}")
        return value


# The lifecycle hooks an ECS blue/green AppSpec may name (ApplicationStart/Stop are EC2's).
ECS_HOOKS = (
    "BeforeInstall",
    "AfterInstall",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
)
ECS_DEPLOYMENT_CONFIGS = (
    "CodeDeployDefault.ECSAllAtOnce",
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
    "CodeDeployDefault.ECSCanary10Percent5Minutes",
    "CodeDeployDefault.ECSCanary10Percent15Minutes",
)


class EcsServiceConfig(Section):
    """One ECS service of the environment; all services get the same image digest, in order."""

    name: str = Field(min_length=1, description="the ECS service's name")
    container: str | None = Field(
        default=None,
        description="the container whose image the release sets; unset: taskdef.container",
    )
    container_port: int = Field(
        default=8080,
        ge=1,
        le=65535,
        description="the port the load balancer sends traffic to (blue/green AppSpec)",
    )
    taskdef_overlay: str | None = Field(
        default=None, description="an extra task-definition overlay file for this service only"
    )
    deployment_group: str | None = Field(
        default=None,
        description="blue/green: this service's CodeDeploy deployment group; unset: "
        "codedeploy.deployment_group",
    )


class EcsTargetConfig(Section):
    """ECS Fargate rolling update watched through rolloutState and the circuit breaker."""

    kind: Literal["ecs"] = Field(
        default="ecs",
        description="ECS Fargate rolling update, followed by the new deployment's id",
    )
    cluster: str = Field(description="the ECS cluster")
    services: list[EcsServiceConfig] = Field(
        min_length=1,
        description="the services, deployed in order with one digest: [[target.services]]",
    )
    timeout_seconds: float = Field(
        default=900,
        gt=0,
        description="how long a rollout may take; then it is rolled back and that is watched "
        "(exit 3 only when that is stuck too)",
    )
    poll_seconds: float = Field(default=5, gt=0, description="how often a rollout is polled")
    alarms: list[str] = Field(
        default_factory=list,
        description="CloudWatch alarms: a deploy is refused while one is in ALARM (blue/green: "
        "CodeDeploy also rolls back on them)",
    )
    keep_revisions: int = Field(
        default=10,
        ge=2,
        description="the newest task-definition revisions kept; the serving one, the previous "
        "one and the rollback target are never deregistered",
    )
    circuit_breaker: bool = Field(
        default=True, description="enable the deployment circuit breaker with rollback"
    )
    metrics_namespace: str = Field(
        default="Shipyard",
        description="the CloudWatch namespace of DeployDuration, DeploySuccess, DeployFailure "
        "and DeployRollback",
    )
    log_lines: int = Field(
        default=20, ge=0, description="the awslogs tail shown for each stopped task"
    )
    check_image: bool = Field(
        default=True, description="refuse to deploy when the registry does not hold the digest"
    )
    bake_seconds: float = Field(
        default=0,
        ge=0,
        description="after traffic moved and verify passed: watch the new revision this long "
        "(PRIMARY, no failed tasks, the verify checks once per poll) before calling it a "
        "success",
    )

    @field_validator("services")
    @classmethod
    def _unique_services(cls, value: list[EcsServiceConfig]) -> list[EcsServiceConfig]:
        names = [s.name for s in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"service {dupes[0]!r} is listed twice")
        return value


LAMBDA_FUNCTION = re.compile(
    r"^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]+)?$"
)
LISTENER_ARN = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener/.+$")
TARGET_GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:.*:targetgroup/([^/]+)/.+$")
TARGET_GROUP_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
IAM_ROLE = re.compile(r"^(arn:aws[a-z-]*:iam::\d{12}:role/)?[\w+=,.@/-]{1,64}$")


class CodeDeployConfig(Section):
    application: str = Field(description="the CodeDeploy application")
    deployment_group: str = Field(description="the CodeDeploy deployment group")
    deployment_config: str = Field(
        default="CodeDeployDefault.ECSAllAtOnce",
        description="how traffic moves: ECSAllAtOnce, ECSLinear10PercentEvery1Minutes, "
        "ECSCanary10Percent5Minutes, … (the CodeDeployDefault. prefix may be left out), or a "
        "custom config of the account",
    )
    appspec: str = Field(
        default="deploy/codedeploy/appspec.json",
        description="the AppSpec template: resources only, never Hooks (those come from hooks)",
    )
    hooks: dict[str, str] | None = Field(
        default=None,
        description="ECS lifecycle hook (BeforeInstall, AfterInstall, AfterAllowTestTraffic, "
        "BeforeAllowTraffic, AfterAllowTraffic) → Lambda function name or ARN; none by "
        "default, since each names a function that must exist (inv doctor and inv setup-cicd "
        "check)",
    )
    termination_wait_minutes: int | None = Field(
        default=None,
        ge=0,
        le=2880,
        description="how long the old task set stays after traffic moved; inv setup-cicd "
        "creates the deployment group with it, 5 when unset",
    )
    # What inv setup-cicd needs to create the deployment group when it does not exist yet.
    service_role: str | None = Field(
        default=None,
        pattern=IAM_ROLE.pattern,
        description="inv setup-cicd: the role CodeDeploy assumes (AWSCodeDeployRoleForECS "
        "attached), an ARN or a name in this account",
    )
    target_groups: list[str] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="inv setup-cicd: the blue and green target groups (names, or ARNs whose "
        "names are taken)",
    )
    prod_listener_arn: str | None = Field(
        default=None,
        pattern=LISTENER_ARN.pattern,
        description="inv setup-cicd: the listener production traffic comes through",
    )
    test_listener_arn: str | None = Field(
        default=None,
        pattern=LISTENER_ARN.pattern,
        description="inv setup-cicd, optional: a test listener for traffic before the shift",
    )

    @field_validator("deployment_config")
    @classmethod
    def _known_config(cls, value: str) -> str:
        if not value.startswith("CodeDeployDefault."):
            short = f"CodeDeployDefault.{value}"
            if short in ECS_DEPLOYMENT_CONFIGS:
                return short
            return value  # a custom deployment config of the account
        if value not in ECS_DEPLOYMENT_CONFIGS:
            raise ValueError(
                f"{value!r} is not an ECS deployment config; use one of "
                + ", ".join(c.removeprefix("CodeDeployDefault.") for c in ECS_DEPLOYMENT_CONFIGS)
            )
        return value

    @field_validator("hooks")
    @classmethod
    def _ecs_hooks(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, function in (value or {}).items():
            if name not in ECS_HOOKS:
                raise ValueError(
                    f"{name!r} is not an ECS lifecycle hook; use {', '.join(ECS_HOOKS)}"
                )
            if not LAMBDA_FUNCTION.match(function):
                raise ValueError(f"{name}: {function!r} is not a Lambda function name or ARN")
        return value

    @field_validator("target_groups")
    @classmethod
    def _target_group_names(cls, value: list[str] | None) -> list[str] | None:
        """CodeDeploy takes target group names; an ARN is accepted and its name used."""
        if value is None:
            return None
        names = []
        for item in value:
            arn = TARGET_GROUP_ARN.match(item)
            name = arn.group(1) if arn else item
            if not TARGET_GROUP_NAME.match(name):
                raise ValueError(f"{item!r} is not a target group name or ARN")
            names.append(name)
        if names[0] == names[1]:
            raise ValueError("the blue and green target groups must differ")
        return names


class EcsBlueGreenTargetConfig(EcsTargetConfig):
    """ECS with CodeDeploy blue/green traffic shifting."""

    kind: Literal["ecs-bluegreen"] = Field(  # type: ignore[assignment]
        default="ecs-bluegreen",
        description="ECS with CodeDeploy blue/green traffic shifting, followed by its id",
    )
    codedeploy: CodeDeployConfig = Field(description="CodeDeploy: [target.codedeploy]")
