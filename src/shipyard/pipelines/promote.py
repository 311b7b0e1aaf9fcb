"""inv promote --from staging --to production: deploy the exact image live in the source
environment to the target environment. Never rebuilt: the digest is read from what the source
serves, the release tag is added to that same manifest in ECR (batch_get_image + put_image),
and the target deploys `<repository>@<digest>`.

Steps: locate (what serves in the source) -> tag (release tag on the same digest) -> deploy
-> verify, as one rollout (rollout/engine.py: lock, verify gate, undo, records, notify).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import TYPE_CHECKING, Any

from shipyard.adapters.ecr import EcrRegistry
from shipyard.adapters.ecr_tags import digest_of_tag, put_tag, tags_of_digest
from shipyard.adapters.ecs_inventory import EcsInventory
from shipyard.context import Context
from shipyard.errors import RolledBack, ScanFailed, ShipyardError, UsageError
from shipyard.images import parse_image_ref
from shipyard.operations import scan
from shipyard.pipelines.steptable import StepLog
from shipyard.plan import Plan
from shipyard.records import record
from shipyard.rollout import api
from shipyard.targets.base import Artifact, DeployOptions, DeployResult
from shipyard.targets.ecs_serving import serving_view, uses_task_sets
from shipyard.versioning import docker_tag, from_docker_tag, parse

if TYPE_CHECKING:
    from shipyard.rollout.model import Target


@record
class PromoteOptions:
    source: str
    target: str
    release_tag: str | None = None  # default: the live version (a prerelease needs one given)
    digest: str | None = None  # the image this run built and scanned: the source must serve it
    commit: str | None = None  # the commit this run is for: the image must be built from it
    scan: bool = True  # the source's image must pass the scan gate (ECR environments)
    verify: bool = True
    wait: bool = True
    lock_wait: float = 0.0
    dry_run: bool = False


@record
class LiveImage:
    environment: str
    repository: str  # ECR repository name
    digest: str
    tags: tuple[str, ...]
    where: str  # e.g. "ecs service shop-staging (task definition ...:12)"

    @property
    def version(self) -> str | None:
        versions = [v for v in (from_docker_tag(t) for t in self.tags) if v is not None]
        return str(max(versions)) if versions else None

    @property
    def revision(self) -> str:
        return next((t[4:] for t in self.tags if t.startswith("sha-")), "")


@record(frozen=False)
class PromoteResult:
    source: str
    target: str
    version: str = ""
    digest: str = ""
    image: str = ""
    release_tag: str = ""
    tag_action: str = ""
    task_definition_arn: str | None = None
    deployment_id: str | None = None
    outcome: str = "failed"
    steps: StepLog | None = None
    plan: Plan | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline": "promote",
            "from": self.source,
            "to": self.target,
            "version": self.version or None,
            "release_tag": self.release_tag or None,
            "digest": self.digest or None,
            "image": self.image or None,
            "task_definition_arn": self.task_definition_arn,
            "deployment_id": self.deployment_id,
            "outcome": self.outcome,
            "serving": self.details.get("serving"),
            "steps": self.steps.as_list() if self.steps else [],
        }


# -- where the source's live image is -----------------------------------------------------------


def _ecr(ctx: Context) -> Any:
    registry = ctx.registry
    if not isinstance(registry, EcrRegistry):
        raise UsageError(
            f"promote re-tags images in ECR; {ctx.environment} uses registry.kind="
            f"{ctx.config.registry.kind}",
            hint="promote between AWS environments (staging -> production); "
            "locally use inv release",
        )
    return registry


def _registry_id(ctx: Context) -> dict[str, str]:
    account = getattr(ctx.config.registry, "account_id", None) or ctx.config.aws.account_id
    return {"registryId": account} if account else {}


def _serving_task_definition(name: str, service: dict[str, Any]) -> str:
    """The task definition that serves (targets/ecs_serving.py); a rolling service whose
    rollout is still under way is refused: what it will serve is not known yet."""
    view = serving_view(name, service)
    if view.busy and not uses_task_sets(service):
        raise UsageError(
            f"service {name} is still rolling out {view.target}",
            hint="wait for that deployment to finish (inv status), then promote",
        )
    if not view.known or view.serving is None:
        raise UsageError(f"cannot tell what {name} serves: {view.detail}", hint="see inv status")
    return view.serving


def _resolve_digest(ctx: Context, repository: str, tag: str) -> str:
    digest = digest_of_tag(_ecr(ctx).client, repository, tag, _registry_id(ctx), missing_ok=False)
    assert digest is not None  # missing_ok=False: a missing image raised
    return digest


def _tags_of(ctx: Context, repository: str, digest: str) -> tuple[str, ...]:
    return tags_of_digest(_ecr(ctx).client, repository, digest, _registry_id(ctx))


def live_image(ctx: Context) -> LiveImage:
    """The image the environment's ECS service(s) serve now, pinned by digest."""

    target = ctx.config.target
    if target.kind == "local":
        raise UsageError(
            f"{ctx.environment} runs on this machine; promote reads an ECS service",
            hint="promote between AWS environments, e.g. --from staging --to production",
        )
    names = [s.name for s in target.services]
    ecs = EcsInventory(ctx.aws)
    described = ecs.services(target.cluster, names, cluster_may_be_missing=False)
    answered = described[0] if described else []
    found = {s["serviceName"]: s for s in answered if s.get("status") == "ACTIVE"}
    missing = [n for n in names if n not in found]
    if missing:
        raise UsageError(
            f"{ctx.environment}: service {missing[0]} not found in cluster {target.cluster}",
            hint="deploy it first (inv release --env "
            + ctx.environment
            + ") or fix target.services",
        )
    lives: list[LiveImage] = []
    for svc_cfg in target.services:
        arn = _serving_task_definition(svc_cfg.name, found[svc_cfg.name])
        taskdef = ecs.task_definition(arn)
        container = svc_cfg.container or ctx.config.taskdef.container
        images = [c["image"] for c in taskdef["containerDefinitions"] if c["name"] == container]
        if not images:
            raise UsageError(
                f"{arn} has no container {container!r}", hint="check taskdef.container"
            )
        _, repository, tag, digest = parse_image_ref(images[0])
        if digest is None:
            if tag is None:
                raise UsageError(f"{images[0]} names neither a tag nor a digest")
            digest = _resolve_digest(ctx, repository, tag)
        lives.append(
            LiveImage(
                ctx.environment, repository, digest, (), f"ecs service {svc_cfg.name} ({arn})"
            )
        )
    digests = {live.digest for live in lives}
    if len(digests) > 1:
        raise UsageError(
            f"{ctx.environment}'s services run different images: "
            + ", ".join(f"{live.where}: {live.digest[:19]}" for live in lives),
            hint="release one version to every service before promoting",
        )
    first = lives[0]
    return LiveImage(
        first.environment,
        first.repository,
        first.digest,
        _tags_of(ctx, first.repository, first.digest),
        first.where,
    )


def release_tag_for(live: LiveImage, explicit: str | None) -> str:
    if explicit:
        return docker_tag(parse(explicit, source="--version"))
    version = live.version
    if version is None:
        raise UsageError(
            f"the image live in {live.environment} ({live.digest[:19]}) carries no version tag",
            hint="name the release with --version X.Y.Z",
        )
    parsed = parse(version)
    if parsed.prerelease:
        # a develop build reaching production by its number alone is the accident to prevent
        raise UsageError(
            f"{live.environment} serves the prerelease {version}: it is not promoted by itself",
            hint=f"name the release with --version {parsed.finalize_version()} if you mean it",
        )
    return docker_tag(parsed)


def check_provenance(from_ctx: Context, live: LiveImage, opts: PromoteOptions) -> str:
    """Refuse unless the source serves the image this run means: the digest it built and
    scanned, from its commit, passing the scan gate. Returns what was checked."""
    checked = []
    if opts.digest is not None:
        if live.digest != opts.digest:
            raise UsageError(
                f"{live.environment} serves {live.digest[:19]}, not {opts.digest[:19]} "
                "(the image this run built)",
                hint="another deploy reached staging in between: promote from that run, "
                "or release this one to staging again",
            )
        checked.append("digest")
    if opts.commit is not None:
        if not live.revision or not opts.commit.startswith(live.revision):
            raise UsageError(
                f"the image {live.environment} serves was built from "
                f"{live.revision or 'an unknown commit'}, not {opts.commit[:7]}",
                hint="promote from the run of the commit staging serves",
            )
        checked.append("commit")
    if opts.scan and opts.dry_run:
        checked.append("scan on the real run")
    elif opts.scan and from_ctx.config.registry.kind == "ecr":
        found = scan.run(from_ctx, scan.ScanOptions(digest=live.digest))
        if not found.passed:
            blocking = ", ".join(f.id for f in found.blocking) or "expired allowlist entries"
            raise ScanFailed(
                f"the image {live.environment} serves fails the scan gate: {blocking}",
                hint="fix the findings and release again; production never gets it",
            )
        checked.append("scan")
    return ", ".join(checked) or "nothing asked"


# -- the release tag on the same manifest ------------------------------------------------------


def add_release_tag(ctx: Context, repository: str, digest: str, tag: str) -> str:
    """Put `tag` on the manifest `digest` already has: no pull, no push, no rebuild.
    Returns 'added' or 'already there'; refuses to move a tag that names another image."""
    ecr = _ecr(ctx).client
    reg = _registry_id(ctx)
    current = digest_of_tag(ecr, repository, tag, reg)
    if current == digest:
        return "already there"
    if current is not None:
        raise UsageError(
            f"{repository}:{tag} already names {current[:19]}, not {digest[:19]}",
            hint="this version was released from another image; promote with a new --version",
        )
    put_tag(ecr, repository, digest, tag, reg)
    return "added"


# -- the pipeline ------------------------------------------------------------------------------


def _plan(
    from_ctx: Context, to_ctx: Context, live: LiveImage, tag: str, opts: PromoteOptions
) -> Plan:
    server = _ecr(to_ctx).server
    image = f"{server}/{live.repository}@{live.digest}"
    plan = Plan(f"promote {from_ctx.environment} -> {to_ctx.environment}")
    plan.add("locate", f"{live.where}: {live.digest} (tags: {', '.join(live.tags) or '-'})")
    plan.add("tag", f"{live.repository}:{tag} -> {live.digest} (batch_get_image + put_image)")
    plan.add("lock", f"{to_ctx.environment} deploy lock")
    plan.add("deploy", f"{image} to {to_ctx.config.target.kind} ({to_ctx.environment})")
    if opts.verify and to_ctx.config.verify.url:
        plan.add(
            "verify", f"{len(to_ctx.config.verify.checks)} check(s) on {to_ctx.config.verify.url}"
        )
    plan.add("notify", "start, then success / failure / rollback")
    plan.notes.append("the image is never rebuilt: the digest that passed staging is deployed")
    return plan


def run(
    from_ctx: Context,
    to_ctx: Context,
    opts: PromoteOptions,
    result: PromoteResult | None = None,
    *,
    target_factory: Callable[[Context], Target] | None = None,
) -> PromoteResult:
    if opts.source == opts.target:
        raise UsageError(
            "--from and --to name the same environment", hint="e.g. --from staging --to production"
        )
    result = result if result is not None else PromoteResult(opts.source, opts.target)
    steps = StepLog(to_ctx.console)
    result.steps = steps
    names = ["locate", "tag", "deploy", "verify"]
    try:
        with steps.step("locate") as step:
            live = live_image(from_ctx)
            tag = release_tag_for(live, opts.release_tag)
            if from_ctx.config.image.repository != to_ctx.config.image.repository:
                raise UsageError(
                    f"{opts.source} and {opts.target} use different repositories "
                    f"({from_ctx.config.image.repository} vs {to_ctx.config.image.repository})",
                    hint="promote needs one ECR repository shared by both environments",
                )
            server = _ecr(to_ctx).server
            result.digest, result.release_tag, result.version = (
                live.digest,
                tag,
                tag.replace("_", "+"),
            )
            result.image = f"{server}/{live.repository}@{live.digest}"
            checked = check_provenance(from_ctx, live, opts)
            step.detail = f"{live.where}: {live.digest[:19]} (checked: {checked})"
        if opts.dry_run:
            result.plan = _plan(from_ctx, to_ctx, live, tag, opts)
            result.outcome = "planned"
            result.steps = None
            return result

        with steps.step("tag") as step:
            result.tag_action = add_release_tag(to_ctx, live.repository, live.digest, tag)
            step.detail = f"{tag} ({result.tag_action})"

        artifact = Artifact(
            version=result.version, image=result.image, digest=live.digest, revision=live.revision
        )
        _deploy(steps, to_ctx, artifact, opts, result, target_factory)
        result.outcome = "succeeded"
        return result
    except BaseException as exc:
        steps.not_run(names)
        if result.outcome != "rolled_back":
            result.outcome = "failed"
        if isinstance(exc, ShipyardError) and isinstance(exc.result, DeployResult):
            result.details = {**result.details, "serving": exc.result.serving}
        raise


def _deploy(
    steps: StepLog,
    ctx: Context,
    artifact: Artifact,
    opts: PromoteOptions,
    result: PromoteResult,
    target_factory: Callable[[Context], Target] | None,
) -> None:
    """The rollout: lock, deploy, verify gate and undo are the engine's."""

    message = f"promote {artifact.version} from {opts.source}"
    target = target_factory(ctx) if target_factory else None
    try:
        with steps.step("deploy") as step:
            deployed = api.deploy(
                ctx,
                artifact,
                DeployOptions(
                    wait=opts.wait, lock_wait=opts.lock_wait, message=message, verify=opts.verify
                ),
                target=target,
            )
            result.details = {**deployed.details, "serving": deployed.serving}
            result.task_definition_arn = _detail(deployed.details, "task_definition_arn")
            result.deployment_id = _detail(deployed.details, "deployment_id")
            step.detail = deployed.message or deployed.outcome
    except RolledBack:
        result.outcome = "rolled_back"
        raise
    checks = len(ctx.config.verify.checks)
    if not opts.verify:
        steps.skip("verify", "--no-verify")
    elif not opts.wait:
        steps.skip("verify", "--no-wait")
    else:
        steps.skip("verify", f"{checks} check(s) passed in the rollout's verify gate")


def _detail(details: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        if details.get(key):
            return str(details[key])
    return None
