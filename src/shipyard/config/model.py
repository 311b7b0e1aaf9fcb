"""The whole configuration of one environment, as loaded and validated."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from shipyard.config.aws import AwsConfig, CleanupConfig, LifecyclePolicyConfig, ScanConfig
from shipyard.config.base import SecretRef, SecretsConfig, Section
from shipyard.config.loadtest import LoadtestConfig
from shipyard.config.notify import NotifyConfig
from shipyard.config.targets import EcsBlueGreenTargetConfig, EcsTargetConfig, LocalTargetConfig

DOCKER_TAG_TEMPLATE = r"^[A-Za-z0-9_{][A-Za-z0-9_.{}-]*$"


class ProjectConfig(Section):
    name: str = "gamepulse"
    version_file: str = "version.txt"
    source_url: str | None = None


class TagsConfig(Section):
    """Tag strategy as data. Templates know {version}, {git_sha}, {date} (YYYYMMDD, UTC) and
    {branch}. `latest` is added only when asked and never for a prerelease."""

    templates: list[str] = Field(
        default_factory=lambda: ["{version}", "sha-{git_sha}", "{date}"], min_length=1
    )
    latest: bool = False

    @field_validator("templates")
    @classmethod
    def _templates_look_like_tags(cls, value: list[str]) -> list[str]:
        import re

        for template in value:
            if not re.match(DOCKER_TAG_TEMPLATE, template):
                raise ValueError(f"{template!r} cannot become a Docker tag")
        return value


class ImageConfig(Section):
    repository: str = Field(default="gamepulse", pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$")
    context: str = "app"
    dockerfile: str = "Dockerfile"  # relative to context
    platforms: list[str] = Field(default_factory=lambda: ["linux/amd64"], min_length=1)
    build_args: dict[str, str] = Field(default_factory=dict)
    tags: TagsConfig = Field(default_factory=TagsConfig)
    cache_from_previous: bool = True


class OciRegistryConfig(Section):
    """Any registry speaking the OCI distribution API (the local one, Harbor, GHCR...)."""

    kind: Literal["oci"] = "oci"
    url: str = "127.0.0.1:5000"
    username: str | None = None
    password: SecretRef | None = None
    tls: bool = False


class EcrRegistryConfig(Section):
    """Amazon ECR. The repository name is image.repository; the server is
    <account>.dkr.ecr.<region>.amazonaws.com (account: this, aws.account_id, or STS)."""

    kind: Literal["ecr"] = "ecr"
    account_id: str | None = Field(default=None, pattern=r"^\d{12}$")
    region: str | None = None  # default: aws.region
    scan_on_push: bool = True
    # IMMUTABLE suits version tags; moving tags (latest, {date}) need MUTABLE, or
    # IMMUTABLE_WITH_EXCLUSION with those tags' patterns in mutable_tags.
    tag_mutability: Literal["MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"] = "MUTABLE"
    mutable_tags: list[str] = Field(default_factory=list, max_length=5)
    encryption: Literal["AES256", "KMS"] = "AES256"
    kms_key: str | None = None
    lifecycle: LifecyclePolicyConfig = Field(default_factory=LifecyclePolicyConfig)

    @field_validator("mutable_tags")
    @classmethod
    def _wildcard_tags(cls, value: list[str]) -> list[str]:
        import re

        for pattern in value:
            if not re.match(r"^[A-Za-z0-9_.*-]{1,128}$", pattern):
                raise ValueError(f"{pattern!r} is not a tag pattern (letters, digits, _ . - and *)")
        return value


RegistryConfig = Annotated[OciRegistryConfig | EcrRegistryConfig, Field(discriminator="kind")]
TargetConfig = Annotated[
    LocalTargetConfig | EcsTargetConfig | EcsBlueGreenTargetConfig, Field(discriminator="kind")
]


class HttpCheck(Section):
    path: str = Field(default="/health", pattern=r"^/")
    status: int = Field(default=200, ge=100, le=599)
    # text the body must contain; {version} is replaced by the version being verified
    contains: str | None = None


class VerifyConfig(Section):
    url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")  # local: the proxy
    checks: list[HttpCheck] = Field(default_factory=lambda: [HttpCheck(contains="ok")])
    timeout_seconds: float = Field(default=5.0, gt=0)
    retries: int = Field(default=5, ge=0)
    backoff_seconds: float = Field(default=1.0, ge=0)
    warmup_seconds: float = Field(default=0.0, ge=0)


class LockConfig(Section):
    table: str = "shipyard-locks"  # DynamoDB table for AWS environments
    ttl_seconds: float = Field(default=3600, gt=0)


class TaskDefinitionConfig(Section):
    base: str = "deploy/taskdef/base.json"
    overlay: str | None = None  # default: deploy/taskdef/<environment>.json when present
    container: str = "gamepulse"  # the container whose image each release sets


class ShipyardConfig(Section):
    environment: str
    project: ProjectConfig = Field(default_factory=ProjectConfig)
    image: ImageConfig = Field(default_factory=ImageConfig)
    registry: RegistryConfig = Field(default_factory=OciRegistryConfig)
    aws: AwsConfig = Field(default_factory=AwsConfig)
    target: TargetConfig = Field(default_factory=LocalTargetConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    lock: LockConfig = Field(default_factory=LockConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    cleanup: CleanupConfig = Field(default_factory=CleanupConfig)
    taskdef: TaskDefinitionConfig = Field(default_factory=TaskDefinitionConfig)
    secrets: SecretsConfig = Field(default_factory=SecretsConfig)
    loadtest: LoadtestConfig = Field(default_factory=LoadtestConfig)
    # branches whose CI run pushes and scans (inv ci); others only build and test
    deploy_branches: list[str] = Field(default_factory=lambda: ["main", "develop"])


__all__ = ["SecretRef", "ShipyardConfig"]
