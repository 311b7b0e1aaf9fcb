"""The whole configuration of one environment, as loaded and validated."""

from __future__ import annotations

import re
from dataclasses import field
from typing import Annotated, Literal

from shipyard.config.aws import AwsConfig, CleanupConfig, LifecyclePolicyConfig, ScanConfig
from shipyard.config.base import Check, SecretRef, SecretsConfig, Section, about, config_section
from shipyard.config.loadtest import LoadtestConfig
from shipyard.config.notify import NotifyConfig
from shipyard.config.targets import EcsBlueGreenTargetConfig, EcsTargetConfig, LocalTargetConfig

DOCKER_TAG_TEMPLATE = r"^[A-Za-z0-9_{][A-Za-z0-9_.{}-]*$"
TAG_PATTERN = r"^[A-Za-z0-9_.*-]{1,128}$"  # an ECR exclusion filter: a tag with * wildcards


def _templates_look_like_tags(value: list[str]) -> list[str]:
    for template in value:
        if not re.match(DOCKER_TAG_TEMPLATE, template):
            raise ValueError(f"{template!r} cannot become a Docker tag")
    return value


def _wildcard_tags(value: list[str]) -> list[str]:
    for pattern in value:
        if not re.match(TAG_PATTERN, pattern):
            raise ValueError(f"{pattern!r} is not a tag pattern (letters, digits, _ . - and *)")
    return value


@config_section
class ProjectConfig(Section):
    name: str = field(
        default="app",
        metadata=about(
            "the project's name: the prefix of its AWS roles, policies, log groups, "
            "SNS topics and secrets (<project>-<environment>-deploy, <project>/ci/*)"
        ),
    )
    version_file: str = field(
        default="version.txt",
        metadata=about(
            "the file holding the app's version, relative to the project root: the "
            "single source of truth that inv version reads and writes"
        ),
    )
    source_url: str | None = field(
        default=None,
        metadata=about(
            "the repository URL written into the image label org.opencontainers.image.source"
        ),
    )


@config_section
class TagsConfig(Section):
    """Tag strategy as data. Templates know {version}, {git_sha}, {date} (YYYYMMDD, UTC) and
    {branch}. `latest` is added only when asked and never for a prerelease."""

    templates: Annotated[list[str], Check(_templates_look_like_tags)] = field(
        default_factory=lambda: ["{version}", "sha-{git_sha}", "{date}"],
        metadata=about(
            "the tags every image gets: {version}, {git_sha} (7 characters), {date} "
            "(UTC YYYYMMDD) and {branch} are filled in; a version tag never moves to another "
            "image, moving tags (date, branch) move only after a successful rollout",
            min_length=1,
        ),
    )
    latest: bool = field(
        default=False,
        metadata=about(
            "also tag `latest` (never a prerelease: the plan and a warning say why); "
            "inv tag/push --latest asks for it once"
        ),
    )


@config_section
class ImageConfig(Section):
    repository: str = field(
        default="app",
        metadata=about(
            "the image repository in the registry (ECR: the repository name); "
            "ECR_REPOSITORY overrides it",
            pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$",
        ),
    )
    context: str = field(
        default="app", metadata=about("the build context, relative to the project root")
    )
    dockerfile: str = field(
        default="Dockerfile", metadata=about("the Dockerfile, relative to the build context")
    )
    platforms: list[str] = field(
        default_factory=lambda: ["linux/amd64"],
        metadata=about(
            "the platforms to build; more than one makes a multi-platform build that "
            "the builder pushes straight to the registry (it needs a docker-container builder)",
            min_length=1,
        ),
    )
    build_args: dict[str, str] = field(
        default_factory=dict,
        metadata=about(
            "build arguments for every build, besides APP_VERSION and APP_REVISION "
            "(inv build --build-arg adds more)"
        ),
    )
    tags: TagsConfig = field(
        default_factory=TagsConfig, metadata=about("the tag strategy: [image.tags]")
    )
    cache_from_previous: bool = field(
        default=True,
        metadata=about(
            "use the newest earlier version's image, local and in the registry, as --cache-from"
        ),
    )


@config_section
class OciRegistryConfig(Section):
    """Any registry speaking the OCI distribution API (the local one, Harbor, GHCR...)."""

    kind: Literal["oci"] = field(
        default="oci", metadata=about("a registry speaking the OCI distribution API")
    )
    url: str = field(
        default="127.0.0.1:5000", metadata=about("the registry's host:port, without a scheme")
    )
    username: str | None = field(
        default=None, metadata=about("the login user; unset: push without logging in")
    )
    password: SecretRef | None = field(
        default=None,
        metadata=about("the login password, by reference; passed to docker login on stdin"),
    )
    tls: bool = field(default=False, metadata=about("talk to the registry over HTTPS"))


@config_section
class EcrRegistryConfig(Section):
    """Amazon ECR. The repository name is image.repository; the server is
    <account>.dkr.ecr.<region>.amazonaws.com (account: this, aws.account_id, or STS)."""

    kind: Literal["ecr"] = field(default="ecr", metadata=about("Amazon ECR"))
    account_id: str | None = field(
        default=None,
        metadata=about(
            "the registry's account; unset: aws.account_id / AWS_ACCOUNT_ID, else the "
            "caller's account from STS",
            pattern=r"^\d{12}$",
        ),
    )
    region: str | None = field(
        default=None, metadata=about("the registry's region; unset: aws.region / AWS_REGION")
    )
    scan_on_push: bool = field(
        default=True,
        metadata=about(
            "the repository scans every pushed image (inv ecr-repo sets it and puts back drift)"
        ),
    )
    # IMMUTABLE suits version tags; moving tags (latest, {date}) need MUTABLE, or
    # IMMUTABLE_WITH_EXCLUSION with those tags' patterns in mutable_tags.
    tag_mutability: Literal["MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"] = field(
        default="MUTABLE",
        metadata=about(
            "the repository's tag mutability; IMMUTABLE refuses the second push of a "
            "moving tag ({date}, latest), so shipyard reports that conflict when the config loads"
        ),
    )
    mutable_tags: Annotated[list[str], Check(_wildcard_tags)] = field(
        default_factory=list,
        metadata=about(
            "with IMMUTABLE_WITH_EXCLUSION: the tag patterns (wildcard *) that may "
            'move, e.g. ["latest", "20*"]',
            max_length=5,
        ),
    )
    encryption: Literal["AES256", "KMS"] = field(
        default="AES256", metadata=about("how ECR encrypts the repository at rest")
    )
    kms_key: str | None = field(
        default=None, metadata=about('with encryption = "KMS": the key; unset: the AWS key')
    )
    lifecycle: LifecyclePolicyConfig = field(
        default_factory=LifecyclePolicyConfig,
        metadata=about("the repository's lifecycle policy: [registry.lifecycle]"),
    )


# one of these, chosen by `kind` (each field of these types has discriminator="kind")
RegistryConfig = OciRegistryConfig | EcrRegistryConfig
TargetConfig = LocalTargetConfig | EcsTargetConfig | EcsBlueGreenTargetConfig


@config_section
class HttpCheck(Section):
    path: str = field(default="/health", metadata=about("the path requested", pattern=r"^/"))
    status: int = field(
        default=200, metadata=about("the HTTP status the answer must have", ge=100, le=599)
    )
    contains: str | None = field(
        default=None,
        metadata=about(
            "text the body must contain; {version} is replaced by the version being verified"
        ),
    )


@config_section
class VerifyConfig(Section):
    url: str | None = field(
        default=None,
        metadata=about(
            "the environment's URL the checks are sent to (e.g. the load "
            "balancer's); unset on the local target: its proxy, http://proxy_bind:proxy_port",
            pattern=r"^https?://[^\s/]+",
        ),
    )
    checks: list[HttpCheck] = field(
        default_factory=lambda: [HttpCheck(contains="ok")],
        metadata=about("the HTTP checks a release must pass: [[verify.checks]]"),
    )
    timeout_seconds: float = field(default=5.0, metadata=about("each request's timeout", gt=0))
    retries: int = field(
        default=5, metadata=about("how often a failing check is tried again", ge=0)
    )
    backoff_seconds: float = field(
        default=1.0, metadata=about("the wait between two tries of a check", ge=0)
    )
    warmup_seconds: float = field(
        default=0.0,
        metadata=about(
            "failures during this long after the rollout do not count (a load "
            "balancer registering new targets)",
            ge=0,
        ),
    )


@config_section
class LockConfig(Section):
    table: str = field(
        default="shipyard-locks",
        metadata=about(
            "AWS environments: the DynamoDB table of the deploy lock (created on "
            "first use, on-demand; inv setup-cicd creates it too)"
        ),
    )
    ttl_seconds: float = field(
        default=3600,
        metadata=about(
            "AWS environments: a lock older than this is expired and taken over (the "
            "local lock is freed by the kernel when its holder dies)",
            gt=0,
        ),
    )


@config_section
class TaskDefinitionConfig(Section):
    base: str = field(
        default="deploy/taskdef/base.json",
        metadata=about(
            "the ECS task definition every environment starts from (the JSON "
            "aws ecs describe-task-definition prints works as is)"
        ),
    )
    overlay: str | None = field(
        default=None,
        metadata=about(
            "merged over the base; unset: deploy/taskdef/<environment>.json when it exists"
        ),
    )
    container: str = field(
        default="app",
        metadata=about("the container whose image each release sets (pinned by digest)"),
    )


@config_section
class ShipyardConfig(Section):
    environment: str = field(
        metadata=about("set by shipyard from --env (the file's name), never written in a file")
    )
    project: ProjectConfig = field(default_factory=ProjectConfig, metadata=about("[project]"))
    image: ImageConfig = field(
        default_factory=ImageConfig, metadata=about("what is built and how it is tagged: [image]")
    )
    registry: RegistryConfig = field(
        default_factory=OciRegistryConfig,
        metadata=about(
            'where images are pushed: [registry], kind = "oci" or "ecr"', discriminator="kind"
        ),
    )
    aws: AwsConfig = field(default_factory=AwsConfig, metadata=about("AWS credentials: [aws]"))
    target: TargetConfig = field(
        default_factory=LocalTargetConfig,
        metadata=about(
            'where a release runs: [target], kind = "local", "ecs" or "ecs-bluegreen"',
            discriminator="kind",
        ),
    )
    verify: VerifyConfig = field(
        default_factory=VerifyConfig, metadata=about("the checks a release must pass: [verify]")
    )
    lock: LockConfig = field(default_factory=LockConfig, metadata=about("the deploy lock: [lock]"))
    notify: NotifyConfig = field(
        default_factory=NotifyConfig, metadata=about("Slack and SNS: [notify]")
    )
    scan: ScanConfig = field(
        default_factory=ScanConfig, metadata=about("the ECR vulnerability gate: [scan]")
    )
    cleanup: CleanupConfig = field(
        default_factory=CleanupConfig, metadata=about("what inv cleanup keeps in ECR: [cleanup]")
    )
    taskdef: TaskDefinitionConfig = field(
        default_factory=TaskDefinitionConfig, metadata=about("the task definition: [taskdef]")
    )
    secrets: SecretsConfig = field(
        default_factory=SecretsConfig,
        metadata=about("where file: secret references may be read: [secrets]"),
    )
    loadtest: LoadtestConfig = field(
        default_factory=LoadtestConfig, metadata=about("the k6 load check: [loadtest]")
    )
    deploy_branches: list[str] = field(
        default_factory=lambda: ["main", "develop"],
        metadata=about("branches whose inv ci run pushes and scans; others only build and test"),
    )


__all__ = ["SecretRef", "ShipyardConfig"]
