"""inv deploy: put an image that is already in the registry live in an environment, through
the environment's target (local, ecs, ecs-bluegreen), holding the environment's lock."""

from __future__ import annotations

from shipyard.console import Console, format_seconds
from shipyard.context import Context
from shipyard.errors import UsageError
from shipyard.images import repository_name
from shipyard.operations.version import resolve_version
from shipyard.preflight import check_environment
from shipyard.rollout import api
from shipyard.targets.base import Artifact, DeployOptions, DeployResult
from shipyard.versioning import docker_tag


def resolve_artifact(ctx: Context, version: str | None, *, dry_run: bool = False) -> Artifact:
    """The image of `version` (default: version.txt) as the registry holds it, pinned by
    digest. A dry run does not require it to be pushed yet."""
    parsed = resolve_version(ctx, version)
    tag = docker_tag(parsed)
    repo = ctx.config.image.repository
    server = ctx.registry.server
    manifest = ctx.registry.manifest(repo, tag)
    revision = ctx.git.head_sha()
    if manifest is None:
        if dry_run:
            return Artifact(str(parsed), f"{repository_name(server, repo)}:{tag}", "", revision)
        raise UsageError(
            f"{repository_name(server, repo)}:{tag} is not in the registry",
            hint="run inv push (or inv release) first",
        )
    image = f"{repository_name(server, repo)}@{manifest.digest}"
    from_ecr = ctx.config.registry.kind == "ecr"
    return Artifact(str(parsed), image, manifest.digest, revision, read_from_ecr=from_ecr)


def run(ctx: Context, version: str | None, opts: DeployOptions) -> DeployResult:
    """Deploy `version` (default: version.txt) as the registry holds it; the digest is looked
    up inside the lock, so a push that lands while we wait for it is the one deployed."""
    check_environment(ctx, build=False)
    return api.deploy(
        ctx, lambda _serving: resolve_artifact(ctx, version, dry_run=opts.dry_run), opts
    )


def show(result: DeployResult, console: Console, *, title: str = "deploy") -> None:
    serving = result.serving or {}
    console.table(
        ["environment", "version", "release", "outcome", "serving now", "url", "time"],
        [
            [
                result.environment,
                result.version,
                result.release_id or "-",
                result.outcome,
                serving_text(serving),
                result.url or "-",
                format_seconds(result.seconds),
            ]
        ],
        title=title,
    )
    if result.message:
        console.line(result.message)


def serving_text(serving: dict[str, object]) -> str:
    if not serving:
        return "-"
    if not serving.get("known"):
        return "unknown"
    if serving.get("release_id") is None:
        return "nothing"
    return f"{serving.get('version') or '?'} ({serving.get('release_id')})"


def as_json(result: DeployResult) -> dict[str, object]:
    return {
        "environment": result.environment,
        "version": result.version,
        "digest": result.digest,
        "outcome": result.outcome,
        "release_id": result.release_id,
        "url": result.url,
        "seconds": round(result.seconds, 2),
        "details": result.details,
        "message": result.message,
        "serving": result.serving,
    }
