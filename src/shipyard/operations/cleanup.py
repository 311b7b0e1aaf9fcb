"""inv cleanup for local environments: remove stopped release containers and the images of
releases older than the last N (target.keep_releases). The live release and the rollback target are
never touched. AWS environments are pruned by operations/ecr_cleanup.py instead."""

from __future__ import annotations

from dataclasses import field

from shipyard.adapters.containers import ContainerInfo
from shipyard.console import Console
from shipyard.context import Context
from shipyard.history import HistoryState, Release
from shipyard.images import repository_name
from shipyard.records import record
from shipyard.targets.local import LocalTarget


@record
class CleanupOptions:
    dry_run: bool = False


@record
class Removal:
    kind: str  # container | image
    name: str
    detail: str
    removed: bool = False
    error: str = ""


@record
class CleanupResult:
    environment: str
    removals: tuple[Removal, ...]
    kept: tuple[tuple[str, str, str], ...]  # (release id, version, why)
    dry_run: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


def run(ctx: Context, opts: CleanupOptions) -> CleanupResult:
    target = LocalTarget(ctx)
    state = target.history.read()
    live = state.live_release
    rollback = state.rollback_target()
    kept = _kept_releases(state, live, rollback, target.cfg.keep_releases)
    kept_records = [r for r in state.releases if r.release_id in kept]
    protected = {r.release_id for r in (live, rollback) if r}
    listed = target.containers.list({"dev.shipyard.stack": target.stack})
    removals = _container_removals(listed, protected)
    in_use = _images_in_use(target, listed)
    removals += _image_removals(ctx, target, state, kept_records, in_use)
    if opts.dry_run:
        return CleanupResult(ctx.environment, tuple(removals), tuple(kept.values()), dry_run=True)
    done = _remove(target, removals)
    return CleanupResult(ctx.environment, tuple(done), tuple(kept.values()))


def _kept_releases(
    state: HistoryState, live: Release | None, rollback: Release | None, keep_n: int
) -> dict[str, tuple[str, str, str]]:
    """The releases whose images stay, by release id: (release id, version, why)."""
    kept: dict[str, tuple[str, str, str]] = {}
    if live:
        kept[live.release_id] = (live.release_id, live.version, "live")
    if rollback:
        kept.setdefault(
            rollback.release_id, (rollback.release_id, rollback.version, "rollback target")
        )
    recent = 0
    for r in state.newest_first():
        if recent >= keep_n:
            break
        if r.outcome == "succeeded":
            recent += 1
            kept.setdefault(
                r.release_id, (r.release_id, r.version, f"one of the last {keep_n} releases")
            )
    return kept


def _container_removals(listed: list[ContainerInfo], protected: set[str]) -> list[Removal]:
    """Stopped containers of releases other than the protected ones."""
    return [
        Removal("container", c.name, f"{c.status}, release {c.release or '?'}")
        for c in listed
        if c.status != "running" and c.release not in protected
    ]


def _images_in_use(target: LocalTarget, listed: list[ContainerInfo]) -> set[str]:
    """The image ids the running containers run."""
    return {
        str(target.containers.inspect(c.name).get("Image", ""))
        for c in listed
        if c.status == "running"
    }


def _image_removals(
    ctx: Context,
    target: LocalTarget,
    state: HistoryState,
    kept_records: list[Release],
    in_use: set[str],
) -> list[Removal]:
    """Images of releases that are neither kept nor run by a running container."""
    repo = ctx.config.image.repository
    images = target.containers.images([repo, repository_name(ctx.registry.server, repo)])
    keep_ids = _kept_image_ids(ctx, kept_records)
    # only images this environment released (any outcome) are candidates: an image built
    # but never deployed here is not a release, and may be the next one
    released = {r.image_id: r for r in state.releases if r.image_id}
    removals: list[Removal] = []
    for image in images:
        record = released.get(image.id)
        if record is None or image.id in keep_ids or image.id in in_use:
            continue
        shown = ", ".join(image.tags) or image.id[:19]
        removals.append(Removal("image", image.id, f"{shown} (release {record.release_id})"))
    return removals


def _kept_image_ids(ctx: Context, kept_records: list[Release]) -> set[str]:
    """The image ids of the kept releases, asking Docker for those the history lacks."""
    keep_ids = {r.image_id for r in kept_records if r.image_id}
    for r in kept_records:
        if not r.image_id:
            found = ctx.docker.image_id(r.image)
            if found:
                keep_ids.add(found)
    return keep_ids


def _remove(target: LocalTarget, removals: list[Removal]) -> list[Removal]:
    """Remove each container and image, returning each with whether it went."""
    done: list[Removal] = []
    for item in removals:
        if item.kind == "container":
            target.containers.remove([item.name])
            done.append(Removal(item.kind, item.name, item.detail, removed=True))
        else:
            error = target.containers.remove_image(item.name)
            done.append(
                Removal(item.kind, item.name, item.detail, removed=error is None, error=error or "")
            )
    return done


def show(result: CleanupResult, console: Console) -> None:
    verb = "would remove" if result.dry_run else "removed"
    if result.removals:
        console.table(
            ["what", "name", "detail", "result"],
            [
                [
                    r.kind,
                    r.name[:40] if r.kind == "container" else r.name[7:19],
                    r.detail,
                    verb if (result.dry_run or r.removed) else f"kept: {r.error}",
                ]
                for r in result.removals
            ],
            title=f"cleanup {result.environment}" + (" (dry run)" if result.dry_run else ""),
        )
    else:
        console.line(f"cleanup {result.environment}: nothing to remove")
    if result.kept:
        console.table(
            ["release", "version", "kept because"],
            [list(k) for k in result.kept],
            title="kept",
            summary=False,
        )
    if result.dry_run:
        console.line("dry run: nothing was changed")


def as_json(result: CleanupResult) -> dict[str, object]:
    return {
        "environment": result.environment,
        "dry_run": result.dry_run,
        "removals": [r.__dict__ for r in result.removals],
        "kept": [{"release_id": k[0], "version": k[1], "why": k[2]} for k in result.kept],
    }
