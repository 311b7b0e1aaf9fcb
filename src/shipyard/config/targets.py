"""Deploy targets: where a release runs. One section per kind, chosen by `kind`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shipyard.config.base import Section


class LocalTargetConfig(Section):
    """This machine's Docker engine, blue/green behind an nginx shipyard runs itself."""

    kind: Literal["local"] = "local"
    proxy_bind: str = "127.0.0.1"
    proxy_port: int = Field(default=8080, ge=1, le=65535)
    drain_seconds: float = Field(default=2.0, ge=0)
    healthy_timeout_seconds: float = Field(default=60.0, gt=0)
    keep_releases: int = Field(default=3, ge=1)
    network: str | None = None  # default: shipyard-<stack>
    # names containers, network and volumes; default: <image repository>-<environment>
    stack: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
    stop_timeout_seconds: int = Field(default=10, ge=0)  # unless stopTimeout says
    # pull images the engine lacks from any registry (off: only from the configured registry;
    # a non-essential container whose image is missing is then skipped with a warning)
    pull_missing_images: bool = False
    nginx: str = "nginx"  # the nginx binary


class EcsServiceConfig(Section):
    name: str
    container: str | None = None  # default: taskdef.container
    container_port: int = 8080
    taskdef_overlay: str | None = None  # extra overlay file for this service only


class EcsTargetConfig(Section):
    """ECS Fargate rolling update watched through rolloutState and the circuit breaker."""

    kind: Literal["ecs"] = "ecs"
    cluster: str
    services: list[EcsServiceConfig] = Field(min_length=1)
    timeout_seconds: float = Field(default=900, gt=0)
    poll_seconds: float = Field(default=5, gt=0)
    alarms: list[str] = Field(default_factory=list)
    keep_revisions: int = Field(default=10, ge=2)


class CodeDeployConfig(Section):
    application: str
    deployment_group: str
    deployment_config: str = "CodeDeployDefault.ECSAllAtOnce"
    hooks: dict[str, str] = Field(default_factory=dict)  # hook name -> Lambda function


class EcsBlueGreenTargetConfig(EcsTargetConfig):
    """ECS with CodeDeploy blue/green traffic shifting."""

    kind: Literal["ecs-bluegreen"] = "ecs-bluegreen"  # type: ignore[assignment]
    codedeploy: CodeDeployConfig
