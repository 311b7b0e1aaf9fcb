"""The whole configuration of one environment, as loaded and validated."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from shipyard.config.aws import AwsConfig, CleanupConfig, LifecyclePolicyConfig, ScanConfig
from shipyard.config.base import SecretRef, SecretsConfig, Section
from shipyard.config.loadtest import LoadtestConfig
from shipyard.config.notify import NotifyConfig
from shipyard.config.targets import EcsBlueGreenTargetConfig, EcsTargetConfig, LocalTargetConfig

DOCKER_TAG_TEMPLATE = r"^[A-Za-z0-9_{][A-Za-z0-9_.{}-]*$"


class ProjectConfig(Section):
    name: str = Field(
        default="app",
        description="the project's name: the prefix of its AWS roles, policies, log groups, "
        "SNS topics and secrets (<project>-<environment>-deploy, <project>/ci/*)",
    )
    version_file: str = Field(
        default="version.txt",
        description="the file holding the app's version, relative to the project root: the "
        "single source of truth that inv version reads and writes",
    )
    source_url: str | None = Field(
        default=None,
        description="the repository URL written into the image label "
        "org.opencontainers.image.source",
    )


class TagsConfig(Section):
    """Tag strategy as data. Templates know {version}, {git_sha}, {date} (YYYYMMDD, UTC) and
    {branch}. `latest` is added only when asked and never for a prerelease."""

    templates: list[str] = Field(
        default_factory=lambda: ["{version}", "sha-{git_sha}", "{date}"],
        min_length=1,
        description="the tags every image gets: {version}, {git_sha} (7 characters), {date} "
        "(UTC YYYYMMDD) and {branch} are filled in; a version tag never moves to another "
        "image, moving tags (date, branch) move only after a successful rollout",
    )
    latest: bool = Field(
        default=False,
        description="also tag `latest` (never a prerelease: the plan and a warning say why); "
        "inv tag/push --latest asks for it once",
    )

    @field_validator("templates")
    @classmethod
    def _templates_look_like_tags(cls, value: list[str]) -> list[str]:

        for template in value:
            if not re.match(DOCKER_TAG_TEMPLATE, template):
                raise ValueError(f"{template!r} cannot become a Docker tag")
        return value


class ImageConfig(Section):
    repository: str = Field(
        default="app",
        pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$",
        description="the image repository in the registry (ECR: the repository name); "
        "ECR_REPOSITORY overrides it",
    )
    context: str = Field(
        default="app", description="the build context, relative to the project root"
    )
    dockerfile: str = Field(
        default="Dockerfile", description="the Dockerfile, relative to the build context"
    )
    platforms: list[str] = Field(
        default_factory=lambda: ["linux/amd64"],
        min_length=1,
        description="the platforms to build; more than one makes a multi-platform build that "
        "the builder pushes straight to the registry (it needs a docker-container builder)",
    )
    build_args: dict[str, str] = Field(
        default_factory=dict,
        description="build arguments for every build, besides APP_VERSION and APP_REVISION "
        "(inv build --build-arg adds more)",
    )
    tags: TagsConfig = Field(
        default_factory=TagsConfig, description="the tag strategy: [image.tags]"
    )
    cache_from_previous: bool = Field(
        default=True,
        description="use the newest earlier version's image, local and in the registry, as "
        "--cache-from",
    )


class OciRegistryConfig(Section):
    """Any registry speaking the OCI distribution API (the local one, Harbor, GHCR...)."""

    kind: Literal["oci"] = Field(
        default="oci", description="a registry speaking the OCI distribution API"
    )
    url: str = Field(
        default="127.0.0.1:5000", description="the registry's host:port, without a scheme"
    )
    username: str | None = Field(
        default=None, description="the login user; unset: push without logging in"
    )
    password: SecretRef | None = Field(
        default=None,
        description="the login password, by reference; passed to docker login on stdin",
    )
    tls: bool = Field(default=False, description="talk to the registry over HTTPS")


class EcrRegistryConfig(Section):
    """Amazon ECR. The repository name is image.repository; the server is
    <account>.dkr.ecr.<region>.amazonaws.com (account: this, aws.account_id, or STS)."""

    kind: Literal["ecr"] = Field(default="ecr", description="Amazon ECR")
    account_id: str | None = Field(
        default=None,
        pattern=r"^\d{12}$",
        description="the registry's account; unset: aws.account_id / AWS_ACCOUNT_ID, else the "
        "caller's account from STS",
    )
    region: str | None = Field(
        default=None, description="the registry's region; unset: aws.region / AWS_REGION"
    )
    scan_on_push: bool = Field(
        default=True,
        description="the repository scans every pushed image (inv ecr-repo sets it and puts "
        "back drift)",
    )
    # IMMUTABLE suits version tags; moving tags (latest, {date}) need MUTABLE, or
    # IMMUTABLE_WITH_EXCLUSION with those tags' patterns in mutable_tags.
    tag_mutability: Literal["MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"] = Field(
        default="MUTABLE",
        description="the repository's tag mutability; IMMUTABLE refuses the second push of a "
        "moving tag ({date}, latest), so shipyard reports that conflict when the config loads",
    )
    mutable_tags: list[str] = Field(
        default_factory=list,
        max_length=5,
        description="with IMMUTABLE_WITH_EXCLUSION: the tag patterns (wildcard *) that may "
        'move, e.g. ["latest", "20*"]',
    )
    encryption: Literal["AES256", "KMS"] = Field(
        default="AES256", description="how ECR encrypts the repository at rest"
    )
    kms_key: str | None = Field(
        default=None, description='with encryption = "KMS": the key; unset: the AWS key'
    )
    lifecycle: LifecyclePolicyConfig = Field(
        default_factory=LifecyclePolicyConfig,
        description="the repository's lifecycle policy: [registry.lifecycle]",
    )

    @field_validator("mutable_tags")
    @classmethod
    def _wildcard_tags(cls, value: list[str]) -> list[str]:

        for pattern in value:
            if not re.match(r"^[A-Za-z0-9_.*-]{1,128}$", pattern):
                raise ValueError(f"{pattern!r} is not a tag pattern (letters, digits, _ . - and *)")
        return value


RegistryConfig = Annotated[OciRegistryConfig | EcrRegistryConfig, Field(discriminator="kind")]
TargetConfig = Annotated[
    LocalTargetConfig | EcsTargetConfig | EcsBlueGreenTargetConfig, Field(discriminator="kind")
]


class HttpCheck(Section):
    path: str = Field(default="/health", pattern=r"^/", description="the path requested")
    status: int = Field(
        default=200, ge=100, le=599, description="the HTTP status the answer must have"
    )
    contains: str | None = Field(
        default=None,
        description="text the body must contain; {version} is replaced by the version being "
        "verified",
    )


class VerifyConfig(Section):
    url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+",
        description="the environment's URL the checks are sent to (e.g. the load "
        "balancer's); unset on the local target: its proxy, http://proxy_bind:proxy_port",
    )
    checks: list[HttpCheck] = Field(
        default_factory=lambda: [HttpCheck(contains="ok")],
        description="the HTTP checks a release must pass: [[verify.checks]]",
    )
    timeout_seconds: float = Field(default=5.0, gt=0, description="each request's timeout")
    retries: int = Field(default=5, ge=0, description="how often a failing check is tried again")
    backoff_seconds: float = Field(
        default=1.0, ge=0, description="the wait between two tries of a check"
    )
    warmup_seconds: float = Field(
        default=0.0,
        ge=0,
        description="failures during this long after the rollout do not count (a load "
        "balancer registering new targets)",
    )


class LockConfig(Section):
    table: str = Field(
        default="shipyard-locks",
        description="AWS environments: the DynamoDB table of the deploy lock (created on "
        "first use, on-demand; inv setup-cicd creates it too)",
    )
    ttl_seconds: float = Field(
        default=3600,
        gt=0,
        description="AWS environments: a lock older than this is expired and taken over (the "
        "local lock is freed by the kernel when its holder dies)",
    )


class TaskDefinitionConfig(Section):
    base: str = Field(
        default="deploy/taskdef/base.json",
        description="the ECS task definition every environment starts from (the JSON "
        "aws ecs describe-task-definition prints works as is)",
    )
    overlay: str | None = Field(
        default=None,
        description="merged over the base; unset: deploy/taskdef/<environment>.json when it exists",
    )
    container: str = Field(
        default="app",
        description="the container whose image each release sets (pinned by digest)",
    )


class ShipyardConfig(Section):
    environment: str = Field(
        description="set by shipyard from --env (the file's name), never written in a file"
    )
    project: ProjectConfig = Field(default_factory=ProjectConfig, description="[project]")
    image: ImageConfig = Field(
        default_factory=ImageConfig, description="what is built and how it is tagged: [image]"
    )
    registry: RegistryConfig = Field(
        default_factory=OciRegistryConfig,
        description='where images are pushed: [registry], kind = "oci" or "ecr"',
    )
    aws: AwsConfig = Field(default_factory=AwsConfig, description="AWS credentials: [aws]")
    target: TargetConfig = Field(
        default_factory=LocalTargetConfig,
        description='where a release runs: [target], kind = "local", "ecs" or "ecs-bluegreen"',
    )
    verify: VerifyConfig = Field(
        default_factory=VerifyConfig, description="the checks a release must pass: [verify]"
    )
    lock: LockConfig = Field(default_factory=LockConfig, description="the deploy lock: [lock]")
    notify: NotifyConfig = Field(
        default_factory=NotifyConfig, description="Slack and SNS: [notify]"
    )
    scan: ScanConfig = Field(
        default_factory=ScanConfig, description="the ECR vulnerability gate: [scan]"
    )
    cleanup: CleanupConfig = Field(
        default_factory=CleanupConfig, description="what inv cleanup keeps in ECR: [cleanup]"
    )
    taskdef: TaskDefinitionConfig = Field(
        default_factory=TaskDefinitionConfig, description="the task definition: [taskdef]"
    )
    secrets: SecretsConfig = Field(
        default_factory=SecretsConfig,
        description="where file: secret references may be read: [secrets]",
    )
    loadtest: LoadtestConfig = Field(
        default_factory=LoadtestConfig, description="the k6 load check: [loadtest]"
    )
    deploy_branches: list[str] = Field(
        default_factory=lambda: ["main", "develop"],
        description="branches whose inv ci run pushes and scans; others only build and test",
    )


__all__ = ["SecretRef", "ShipyardConfig"]
