"""Deploy targets: where a release runs. One section per kind, chosen by `kind`."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import field
from typing import Annotated, Literal

from shipyard.config.base import Check, Section, about, config_section

DOCKER_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"  # what Docker accepts as a network or volume name
NGINX_BINARY = r"^[A-Za-z0-9_.+/-]+$"  # shipyard runs it, often as root: a plain name or path


def _an_address(value: str) -> str:
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


@config_section
class LocalTargetConfig(Section):
    """This machine's Docker engine, blue/green behind an nginx shipyard runs itself."""

    kind: Literal["local"] = field(
        default="local", metadata=about("blue/green on this machine's Docker engine behind nginx")
    )
    proxy_bind: Annotated[str, Check(_an_address)] = field(
        default="127.0.0.1",
        metadata=about("the IP address nginx listens on (a host name is not accepted)"),
    )
    proxy_port: int = field(
        default=8080,
        metadata=about(
            "the port nginx listens on; the URL users and verify use unless verify.url is set",
            ge=1,
            le=65535,
        ),
    )
    bake_seconds: float = field(
        default=5.0,
        metadata=about(
            "after the switch the new release is watched this long while the "
            "previous one keeps running (and finishes the requests it holds); a failure in it "
            "switches back",
            ge=0,
        ),
    )
    healthy_timeout_seconds: float = field(
        default=60.0,
        metadata=about(
            "how long to wait for Docker to report every essential container healthy", gt=0
        ),
    )
    keep_releases: int = field(
        default=3, metadata=about("inv cleanup keeps the images of this many recent releases", ge=1)
    )
    network: str | None = field(
        default=None,
        metadata=about(
            "the Docker network of the stack; unset: shipyard-<stack>", pattern=DOCKER_NAME
        ),
    )
    stack: str | None = field(
        default=None,
        metadata=about(
            "names the containers, network and volumes; unset: "
            "<image repository>-<environment>-<hash of the checkout path>",
            pattern=DOCKER_NAME,
        ),
    )
    stop_timeout_seconds: int = field(
        default=10,
        metadata=about("docker stop's grace period, unless the container's stopTimeout says", ge=0),
    )
    pull_missing_images: bool = field(
        default=False,
        metadata=about(
            "pull images the engine lacks from any registry; off: only from the "
            "configured registry, and a non-essential container whose image is missing is "
            "skipped with a warning"
        ),
    )
    nginx: str = field(
        default="nginx", metadata=about("the nginx binary: a name or a path", pattern=NGINX_BINARY)
    )


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


@config_section
class EcsServiceConfig(Section):
    """One ECS service of the environment; all services get the same image digest, in order."""

    name: str = field(metadata=about("the ECS service's name", min_length=1))
    container: str | None = field(
        default=None,
        metadata=about("the container whose image the release sets; unset: taskdef.container"),
    )
    container_port: int = field(
        default=8080,
        metadata=about(
            "the port the load balancer sends traffic to (blue/green AppSpec)", ge=1, le=65535
        ),
    )
    taskdef_overlay: str | None = field(
        default=None, metadata=about("an extra task-definition overlay file for this service only")
    )
    deployment_group: str | None = field(
        default=None,
        metadata=about(
            "blue/green: this service's CodeDeploy deployment group; unset: "
            "codedeploy.deployment_group"
        ),
    )


def _unique_services(value: list[EcsServiceConfig]) -> list[EcsServiceConfig]:
    names = [s.name for s in value]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"service {dupes[0]!r} is listed twice")
    return value


@config_section
class EcsTargetConfig(Section):
    """ECS Fargate rolling update watched through rolloutState and the circuit breaker."""

    kind: Literal["ecs"] = field(
        default="ecs",
        metadata=about("ECS Fargate rolling update, followed by the new deployment's id"),
    )
    cluster: str = field(metadata=about("the ECS cluster"))
    services: Annotated[list[EcsServiceConfig], Check(_unique_services)] = field(
        metadata=about(
            "the services, deployed in order with one digest: [[target.services]]", min_length=1
        )
    )
    timeout_seconds: float = field(
        default=900,
        metadata=about(
            "how long a rollout may take; then it is rolled back and that is watched "
            "(exit 3 only when that is stuck too)",
            gt=0,
        ),
    )
    poll_seconds: float = field(default=5, metadata=about("how often a rollout is polled", gt=0))
    alarms: list[str] = field(
        default_factory=list,
        metadata=about(
            "CloudWatch alarms: a deploy is refused while one is in ALARM (blue/green: "
            "CodeDeploy also rolls back on them)"
        ),
    )
    keep_revisions: int = field(
        default=10,
        metadata=about(
            "the newest task-definition revisions kept; the serving one, the previous "
            "one and the rollback target are never deregistered",
            ge=2,
        ),
    )
    circuit_breaker: bool = field(
        default=True, metadata=about("enable the deployment circuit breaker with rollback")
    )
    metrics_namespace: str = field(
        default="Shipyard",
        metadata=about(
            "the CloudWatch namespace of DeployDuration, DeploySuccess, DeployFailure "
            "and DeployRollback"
        ),
    )
    log_lines: int = field(
        default=20, metadata=about("the awslogs tail shown for each stopped task", ge=0)
    )
    check_image: bool = field(
        default=True, metadata=about("refuse to deploy when the registry does not hold the digest")
    )
    bake_seconds: float = field(
        default=0,
        metadata=about(
            "after traffic moved and verify passed: watch the new revision this long "
            "(PRIMARY, no failed tasks, the verify checks once per poll) before calling it a "
            "success",
            ge=0,
        ),
    )


# patterns, not compiled: only validation (a cache miss) uses them, and re caches them there
LAMBDA_FUNCTION = (
    r"^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]+)?$"
)
LISTENER_ARN = r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener/.+$"
TARGET_GROUP_ARN = r"^arn:aws[a-z-]*:elasticloadbalancing:.*:targetgroup/([^/]+)/.+$"
TARGET_GROUP_NAME = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$"
IAM_ROLE = r"^(arn:aws[a-z-]*:iam::\d{12}:role/)?[\w+=,.@/-]{1,64}$"


def _known_config(value: str) -> str:
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


def _ecs_hooks(value: dict[str, str] | None) -> dict[str, str] | None:
    for name, function in (value or {}).items():
        if name not in ECS_HOOKS:
            raise ValueError(f"{name!r} is not an ECS lifecycle hook; use {', '.join(ECS_HOOKS)}")
        if not re.match(LAMBDA_FUNCTION, function):
            raise ValueError(f"{name}: {function!r} is not a Lambda function name or ARN")
    return value


def _target_group_names(value: list[str] | None) -> list[str] | None:
    """CodeDeploy takes target group names; an ARN is accepted and its name used."""
    if value is None:
        return None
    names = []
    for item in value:
        arn = re.match(TARGET_GROUP_ARN, item)
        name = arn.group(1) if arn else item
        if not re.match(TARGET_GROUP_NAME, name):
            raise ValueError(f"{item!r} is not a target group name or ARN")
        names.append(name)
    if names[0] == names[1]:
        raise ValueError("the blue and green target groups must differ")
    return names


@config_section
class CodeDeployConfig(Section):
    application: str = field(metadata=about("the CodeDeploy application"))
    deployment_group: str = field(metadata=about("the CodeDeploy deployment group"))
    deployment_config: Annotated[str, Check(_known_config)] = field(
        default="CodeDeployDefault.ECSAllAtOnce",
        metadata=about(
            "how traffic moves: ECSAllAtOnce, ECSLinear10PercentEvery1Minutes, "
            "ECSCanary10Percent5Minutes, … (the CodeDeployDefault. prefix may be left out), or a "
            "custom config of the account"
        ),
    )
    appspec: str = field(
        default="deploy/codedeploy/appspec.json",
        metadata=about("the AppSpec template: resources only, never Hooks (those come from hooks)"),
    )
    hooks: Annotated[dict[str, str] | None, Check(_ecs_hooks)] = field(
        default=None,
        metadata=about(
            "ECS lifecycle hook (BeforeInstall, AfterInstall, AfterAllowTestTraffic, "
            "BeforeAllowTraffic, AfterAllowTraffic) → Lambda function name or ARN; none by "
            "default, since each names a function that must exist (inv doctor and inv setup-cicd "
            "check)"
        ),
    )
    termination_wait_minutes: int | None = field(
        default=None,
        metadata=about(
            "how long the old task set stays after traffic moved; inv setup-cicd "
            "creates the deployment group with it, 5 when unset",
            ge=0,
            le=2880,
        ),
    )
    # What inv setup-cicd needs to create the deployment group when it does not exist yet.
    service_role: str | None = field(
        default=None,
        metadata=about(
            "inv setup-cicd: the role CodeDeploy assumes (AWSCodeDeployRoleForECS "
            "attached), an ARN or a name in this account",
            pattern=IAM_ROLE,
        ),
    )
    target_groups: Annotated[list[str] | None, Check(_target_group_names)] = field(
        default=None,
        metadata=about(
            "inv setup-cicd: the blue and green target groups (names, or ARNs whose "
            "names are taken)",
            min_length=2,
            max_length=2,
        ),
    )
    prod_listener_arn: str | None = field(
        default=None,
        metadata=about(
            "inv setup-cicd: the listener production traffic comes through",
            pattern=LISTENER_ARN,
        ),
    )
    test_listener_arn: str | None = field(
        default=None,
        metadata=about(
            "inv setup-cicd, optional: a test listener for traffic before the shift",
            pattern=LISTENER_ARN,
        ),
    )


@config_section
class EcsBlueGreenTargetConfig(EcsTargetConfig):
    """ECS with CodeDeploy blue/green traffic shifting."""

    kind: Literal["ecs-bluegreen"] = field(  # type: ignore[assignment]
        default="ecs-bluegreen",
        metadata=about("ECS with CodeDeploy blue/green traffic shifting, followed by its id"),
    )
    codedeploy: CodeDeployConfig = field(metadata=about("CodeDeploy: [target.codedeploy]"))
