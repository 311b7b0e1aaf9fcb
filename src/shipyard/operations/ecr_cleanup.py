"""Safe ECR cleanup: keep what is released, deployed or young; delete the rest in batches.

Kept, whatever else holds:
- every image deployed in ANY environment whose config targets ECS: the task definitions of
  each configured service's deployments and task sets, the newest ACTIVE revisions of its
  family (what a rollback would start), and the digests its running tasks actually run;
- the newest N semantic-version releases (cleanup.keep_releases);
- images carrying a tag of cleanup.keep_tags (`latest`);
- images that are no release (untagged, prerelease, sha-/date-only) younger than D days
  (cleanup.untagged_days): an image pushed a moment ago may be about to be deployed;
- the platform images of every kept multi-arch index.
Everything else is deleted with batch_delete_image, 100 digests per call. If what is deployed
somewhere cannot be read, nothing is deleted.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import semver

from shipyard.adapters.aws import AwsClients
from shipyard.adapters.ecr import EcrRegistry, ImageDetail
from shipyard.adapters.ecs_inventory import EcsInventory
from shipyard.config.aws import AwsConfig
from shipyard.config.loader import known_environments, load_config
from shipyard.config.model import EcrRegistryConfig
from shipyard.errors import AwsError, UsageError
from shipyard.images import parse_image_ref
from shipyard.records import record

if TYPE_CHECKING:
    from shipyard.adapters.aws import AwsClients
    from shipyard.config.model import ShipyardConfig
    from shipyard.console import Console
    from shipyard.context import Context

# Failures ECR reports that mean "this image must stay", not "the cleanup failed".
BENIGN_FAILURES = frozenset({"ImageReferencedByManifestList", "ImageNotFound"})


@record
class EcrCleanupOptions:
    dry_run: bool = False
    keep_releases: int | None = None  # default: cleanup.keep_releases
    untagged_days: int | None = None  # default: cleanup.untagged_days
    # A configured ECS service that does not exist normally stops the cleanup: a typo in a
    # cluster name must not make deployed images look unused.


@record
class DeployedImage:
    environment: str
    service: str
    source: str  # where we saw it: "deployment PRIMARY f:3", "running task", "revision f:2"
    image: str  # the reference as ECS holds it
    tag: str | None = None
    digest: str | None = None


@record
class Decision:
    image: ImageDetail
    keep: bool
    reason: str


@record
class EcrCleanupResult:
    repository: str  # <server>/<name>
    decisions: tuple[Decision, ...]
    deployed: tuple[DeployedImage, ...]
    deleted: tuple[str, ...] = ()
    failures: tuple[tuple[str, str, str], ...] = ()  # (digest, code, reason)
    warnings: tuple[str, ...] = ()
    dry_run: bool = False
    seconds: float = 0.0
    delete_calls: int = 0

    @property
    def to_delete(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if not d.keep)

    @property
    def kept(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.keep)

    @property
    def hard_failures(self) -> tuple[tuple[str, str, str], ...]:
        return tuple(f for f in self.failures if f[1] not in BENIGN_FAILURES)

    @property
    def ok(self) -> bool:
        return not self.hard_failures


# -- pure rules -------------------------------------------------------------------------------


def release_of(tag: str) -> semver.Version | None:
    """The release a tag names (1.2.3), or None for prereleases and other tags."""
    try:
        version = semver.Version.parse(tag)
    except (ValueError, TypeError):
        return None
    return None if version.prerelease or version.build else version


def select(
    images: Sequence[ImageDetail],
    *,
    keep_releases: int,
    untagged_days: int,
    keep_tags: Iterable[str] = ("latest",),
    deployed_digests: Iterable[str] = (),
    deployed_tags: Iterable[str] = (),
    protected: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> list[Decision]:
    """Decide for every image (pure). `protected` maps digests to a reason to keep them
    (e.g. platform images of a kept index)."""
    now = now or dt.datetime.now(dt.UTC)
    keep_tag_set = set(keep_tags)
    digests = set(deployed_digests)
    tags = set(deployed_tags)
    protected = protected or {}
    releases = sorted(
        {v for image in images for t in image.tags if (v := release_of(t)) is not None},
        reverse=True,
    )
    newest = set(releases[:keep_releases])
    grace = dt.timedelta(days=untagged_days)
    decisions: list[Decision] = []
    for image in images:
        image_releases = [v for t in image.tags if (v := release_of(t)) is not None]
        shown = ", ".join(image.tags) or "untagged"
        if image.digest in digests or tags.intersection(image.tags):
            decisions.append(Decision(image, True, "deployed"))
        elif kept_tags := sorted(keep_tag_set.intersection(image.tags)):
            decisions.append(Decision(image, True, f"keeps tag {', '.join(kept_tags)}"))
        elif newest.intersection(image_releases):
            decisions.append(Decision(image, True, f"among the newest {keep_releases} releases"))
        elif image.digest in protected:
            decisions.append(Decision(image, True, protected[image.digest]))
        elif image_releases:
            decisions.append(
                Decision(image, False, f"release {shown} older than the newest {keep_releases}")
            )
        elif now - image.pushed_at < grace:
            decisions.append(Decision(image, True, f"{shown}: younger than {untagged_days} days"))
        else:
            decisions.append(
                Decision(image, False, f"{shown}: no release, older than {untagged_days} days")
            )
    return decisions


def index_children(manifest: Mapping[str, Any]) -> list[str]:
    return [
        str(m["digest"])
        for m in manifest.get("manifests") or []
        if isinstance(m, dict) and m.get("digest")
    ]


# -- what is deployed ---------------------------------------------------------------------------


def deployed_images(ctx: Context) -> tuple[list[DeployedImage], list[str]]:
    """Images deployed by every environment that targets ECS, read live from ECS.

    Returns (images, warnings). A cluster or service that does not exist yet (production
    before its first deploy) runs nothing: a warning, not a refusal. One that cannot be read
    (permissions, throttling) raises, so nothing is deleted on a guess."""

    found: list[DeployedImage] = []
    warnings: list[str] = []
    # one client set per distinct [aws] section: a frozen dataclass of strings, so its own key
    clients: dict[AwsConfig, AwsClients] = {}
    for name in known_environments(ctx.root):
        cfg = (
            ctx.config
            if name == ctx.environment
            else load_config(name, root=ctx.root, environ=ctx.environ)
        )
        if cfg.target.kind not in ("ecs", "ecs-bluegreen"):
            continue
        key = cfg.aws
        if key not in clients:
            clients[key] = ctx.aws if cfg.aws == ctx.config.aws else AwsClients(cfg.aws)
        images, missing = _environment_images(cfg, clients[key])
        found.extend(images)
        warnings.extend(
            f"environment {name}: {what} does not exist, so nothing is deployed there "
            f"(if it should, check the target in deploy/environments/{name}.toml)"
            for what in missing
        )
    return found, warnings


def _environment_images(
    cfg: ShipyardConfig, aws: AwsClients
) -> tuple[list[DeployedImage], list[str]]:
    """Every image the environment runs or can roll back to, and what of it does not exist."""
    target = cfg.target
    assert target.kind in ("ecs", "ecs-bluegreen")
    cluster: str = target.cluster
    ecs = EcsInventory(aws)
    env = cfg.environment
    try:
        described = ecs.services(cluster, [s.name for s in target.services])
    except AwsError as exc:
        raise AwsError(
            f"cannot tell what environment {env} runs, so nothing is deleted: {exc.message}",
            hint=exc.hint,
        ) from None
    if described is None:
        return [], [f"cluster {cluster}"]
    services, failed = described
    missing = [f"service {name} in {cluster}" for name in failed]
    images: list[DeployedImage] = []
    taskdefs: dict[str, tuple[str, str]] = {}  # arn -> (service, source)
    for service in services:
        name = str(service["serviceName"])
        if service.get("status") == "INACTIVE":
            missing.append(f"service {name} in {cluster} (INACTIVE)")
            continue
        for arn, source in _service_taskdefs(ecs, service, target.keep_revisions):
            taskdefs.setdefault(arn, (name, source))
        for c in ecs.running_containers(cluster, name):
            images.append(_deployed(env, name, "running task", c, c.get("imageDigest")))
    for arn, (service_name, source) in taskdefs.items():
        taskdef = ecs.task_definition(arn)
        revision = f"{taskdef.get('family')}:{taskdef.get('revision')}"
        for container in taskdef.get("containerDefinitions") or []:
            images.append(_deployed(env, service_name, f"{source} {revision}", container))
    return images, missing


def _service_taskdefs(
    ecs: EcsInventory, service: Mapping[str, Any], keep_revisions: int
) -> list[tuple[str, str]]:
    """(ARN, where we saw it) of each task definition the service runs or would roll back to;
    running tasks' own images are read separately (ECS resolved their tags at launch)."""
    found: list[tuple[str, str]] = []
    if service.get("taskDefinition"):
        found.append((service["taskDefinition"], "service task definition"))
    for deployment in service.get("deployments") or []:
        found.append((deployment["taskDefinition"], f"deployment {deployment.get('status', '?')}"))
    for task_set in service.get("taskSets") or []:
        found.append((task_set["taskDefinition"], f"task set {task_set.get('status', '?')}"))
    family = _family(service.get("taskDefinition") or "")
    if family:
        for arn in ecs.recent_revisions(family, keep_revisions):
            found.append((arn, "recent revision (rollback target)"))
    return found


def _deployed(
    env: str, service: str, source: str, container: Mapping[str, Any], digest: str | None = None
) -> DeployedImage:
    """The image a container names; `digest`, when ECS resolved one, wins over the reference's."""
    ref = str(container.get("image", ""))
    _, _, tag, ref_digest = parse_image_ref(ref)
    return DeployedImage(env, service, source, ref, tag, digest or ref_digest)


def _family(taskdef_arn: str) -> str:
    tail = taskdef_arn.rsplit("/", 1)[-1]
    return tail.rsplit(":", 1)[0] if ":" in tail else tail


def _ours(image: DeployedImage, repository: str) -> bool:
    # Compared by repository name only: an image of a same-named repository elsewhere keeps a
    # matching tag here too, which errs on the side of keeping.
    _, name, _, _ = parse_image_ref(image.image)
    return name == repository


# -- the operation ----------------------------------------------------------------------------


def run(ctx: Context, opts: EcrCleanupOptions) -> EcrCleanupResult:
    registry = _ecr_registry(ctx)
    started = time.monotonic()
    name = ctx.config.image.repository
    rules = _rules(ctx, opts)
    ctx.console.progress(f"listing images of {registry.server}/{name}")
    images = list(registry.iter_images(name))
    ctx.console.progress("reading what every ECS environment runs")
    deployed_all, warnings = deployed_images(ctx)
    deployed = [d for d in deployed_all if _ours(d, name)]
    decide = functools.partial(
        rules,
        images,
        deployed_digests={d.digest for d in deployed if d.digest},
        deployed_tags={d.tag for d in deployed if d.tag and not d.digest},
    )
    decisions = _with_platform_images(decide, registry, name)
    doomed = [d.image.digest for d in decisions if not d.keep]
    result = EcrCleanupResult(
        repository=f"{registry.server}/{name}",
        decisions=tuple(decisions),
        deployed=tuple(deployed),
        warnings=tuple(warnings),
        dry_run=opts.dry_run,
    )
    if opts.dry_run or not doomed:
        return _with(result, seconds=time.monotonic() - started)
    ctx.console.progress(f"deleting {len(doomed)} image(s) in batches of 100")
    report = registry.delete_images(name, doomed)
    return _with(
        result,
        deleted=report.deleted,
        failures=report.failures,
        delete_calls=report.calls,
        seconds=time.monotonic() - started,
    )


def _ecr_registry(ctx: Context) -> EcrRegistry:
    """The environment's registry; a UsageError when it is not ECR."""

    if not isinstance(ctx.config.registry, EcrRegistryConfig):
        raise UsageError(
            f"environment {ctx.environment} does not push to ECR (registry.kind = "
            f"{ctx.config.registry.kind!r})",
            hint="ECR cleanup runs for environments whose registry.kind is 'ecr'",
        )
    registry = ctx.registry
    assert isinstance(registry, EcrRegistry)
    return registry


def _rules(ctx: Context, opts: EcrCleanupOptions) -> functools.partial[list[Decision]]:
    """`select` bound to keep_tags, keep_releases and untagged_days (the options', else the
    config's); a UsageError for limits out of range."""
    cfg = ctx.config.cleanup
    keep_releases = opts.keep_releases if opts.keep_releases is not None else cfg.keep_releases
    untagged_days = opts.untagged_days if opts.untagged_days is not None else cfg.untagged_days
    if keep_releases < 1 or untagged_days < 0:
        raise UsageError("keep_releases must be at least 1 and untagged_days at least 0")
    return functools.partial(
        select, keep_releases=keep_releases, untagged_days=untagged_days, keep_tags=cfg.keep_tags
    )


def _with_platform_images(
    decide: Callable[..., list[Decision]], registry: EcrRegistry, name: str
) -> list[Decision]:
    """What `decide` decides, keeping the platform images of every kept multi-arch index."""
    decisions = decide()
    kept_indexes = [d.image.digest for d in decisions if d.keep and d.image.is_index]
    if not kept_indexes:
        return decisions
    protected: dict[str, str] = {}
    for digest, manifest in registry.manifests(name, kept_indexes).items():
        for child in index_children(manifest):
            protected[child] = f"platform image of kept index {digest[7:19]}"
    return decide(protected=protected)


def _with(result: EcrCleanupResult, **changes: Any) -> EcrCleanupResult:
    return replace(result, **changes)


def _row(decision: Decision) -> list[str]:
    image = decision.image
    return [
        image.digest[7:19],
        ", ".join(image.tags) or "-",
        image.pushed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        decision.reason,
    ]


def show(result: EcrCleanupResult, console: Console) -> None:
    """Print what was (or would be) deleted and why the rest stays. Raises AwsError after
    printing when ECR refused to delete some images, so the task exits non-zero."""
    for warning in result.warnings:
        console.warn(warning)
    doomed = result.to_delete
    verb = "would delete" if result.dry_run else "deleted"
    if doomed:
        console.table(
            ["digest", "tags", "pushed (UTC)", "why"],
            [_row(d) for d in doomed],
            title=f"{'dry run: ' if result.dry_run else ''}{verb} from {result.repository}",
        )
    if result.deployed:
        console.table(
            ["environment", "service", "seen in", "image"],
            sorted({(d.environment, d.service, d.source, d.image) for d in result.deployed}),
            title="deployed (never deleted)",
            summary=False,
        )
    reasons: dict[str, int] = {}
    for decision in result.kept:
        key = (
            decision.reason.split(": ", 1)[-1]
            if ": younger" in decision.reason
            else decision.reason
        )
        reasons[key] = reasons.get(key, 0) + 1
    if reasons:
        console.table(
            ["kept because", "images"], sorted(reasons.items()), title="kept", summary=False
        )
    count = len(doomed) if result.dry_run else len(result.deleted)
    console.line(
        f"{result.repository}: {len(result.decisions)} image(s), {len(result.kept)} kept, "
        f"{count} {verb}" + ("" if result.dry_run else f" in {result.delete_calls} call(s)")
    )
    if result.dry_run:
        console.line("dry run: nothing was changed")
    for digest, code, reason in result.failures:
        if code in BENIGN_FAILURES:
            console.warn(f"{digest[7:19]} kept: {code} ({reason})")
    hard = result.hard_failures
    if hard:
        digest, code, reason = hard[0]
        raise AwsError(
            f"ECR refused to delete {len(hard)} image(s), e.g. {digest[7:19]}: {code} {reason}",
            hint="run inv cleanup again; if it persists check ecr:BatchDeleteImage permissions",
        )
