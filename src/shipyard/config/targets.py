"""Deploy targets: where a release runs. One section per kind, chosen by `kind`."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from shipyard.config.base import Section

DOCKER_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"  # what Docker accepts as a network or volume name
NGINX_BINARY = r"^[A-Za-z0-9_.+/-]+$"  # shipyard runs it, often as root: a plain name or path


class LocalTargetConfig(Section):
    """This machine's Docker engine, blue/green behind an nginx shipyard runs itself."""

    kind: Literal["local"] = "local"
    proxy_bind: str = "127.0.0.1"
    proxy_port: int = Field(default=8080, ge=1, le=65535)
    # after the switch: the new release is watched this long while the previous one keeps
    # running (and finishes the requests it holds); a failure in it switches back
    bake_seconds: float = Field(default=5.0, ge=0)
    healthy_timeout_seconds: float = Field(default=60.0, gt=0)
    keep_releases: int = Field(default=3, ge=1)
    network: str | None = Field(default=None, pattern=DOCKER_NAME)  # default: shipyard-<stack>
    # names containers, network and volumes; default: <image repository>-<environment>
    stack: str | None = Field(default=None, pattern=DOCKER_NAME)
    stop_timeout_seconds: int = Field(default=10, ge=0)  # unless stopTimeout says
    # pull images the engine lacks from any registry (off: only from the configured registry;
    # a non-essential container whose image is missing is then skipped with a warning)
    pull_missing_images: bool = False
    nginx: str = Field(default="nginx", pattern=NGINX_BINARY)  # the nginx binary: name or path

    @field_validator("proxy_bind")
    @classmethod
    def _an_address(cls, value: str) -> str:
        import ipaddress

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

    name: str = Field(min_length=1)
    container: str | None = None  # default: taskdef.container
    container_port: int = Field(default=8080, ge=1, le=65535)
    taskdef_overlay: str | None = None  # extra overlay file for this service only
    deployment_group: str | None = None  # blue/green: default codedeploy.deployment_group


class EcsTargetConfig(Section):
    """ECS Fargate rolling update watched through rolloutState and the circuit breaker."""

    kind: Literal["ecs"] = "ecs"
    cluster: str
    services: list[EcsServiceConfig] = Field(min_length=1)
    timeout_seconds: float = Field(default=900, gt=0)
    poll_seconds: float = Field(default=5, gt=0)
    alarms: list[str] = Field(default_factory=list)  # refuse to deploy while one is in ALARM
    keep_revisions: int = Field(default=10, ge=2)
    circuit_breaker: bool = True  # enable the deployment circuit breaker with rollback
    metrics_namespace: str = "Shipyard"
    log_lines: int = Field(default=20, ge=0)  # log tail shown per stopped task
    check_image: bool = True  # refuse when the registry does not hold the digest
    # after traffic moved and verify passed: watch the new revision this long (PRIMARY, no
    # failed tasks, the verify checks once per poll) before calling it a success
    bake_seconds: float = Field(default=0, ge=0)

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
    application: str
    deployment_group: str
    deployment_config: str = "CodeDeployDefault.ECSAllAtOnce"
    appspec: str = "deploy/codedeploy/appspec.json"  # template: resources only, never Hooks
    # hook name -> Lambda function name or ARN; none by default, since a hook names a function
    # that must exist (inv doctor and inv setup-cicd check that it does)
    hooks: dict[str, str] | None = None
    # how long the old task set stays after traffic moved (CodeDeploy allows up to two days);
    # setup-cicd creates the deployment group with it, 5 when unset
    termination_wait_minutes: int | None = Field(default=None, ge=0, le=2880)
    # What inv setup-cicd needs to create the deployment group when it does not exist yet:
    # the role CodeDeploy assumes (AWSCodeDeployRoleForECS attached), ARN or name in this account,
    service_role: str | None = Field(default=None, pattern=IAM_ROLE.pattern)
    # the blue and green target groups (names, or ARNs whose names are taken),
    target_groups: list[str] | None = Field(default=None, min_length=2, max_length=2)
    # and the listener production traffic comes through; a test listener is optional.
    prod_listener_arn: str | None = Field(default=None, pattern=LISTENER_ARN.pattern)
    test_listener_arn: str | None = Field(default=None, pattern=LISTENER_ARN.pattern)

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

    kind: Literal["ecs-bluegreen"] = "ecs-bluegreen"  # type: ignore[assignment]
    codedeploy: CodeDeployConfig
