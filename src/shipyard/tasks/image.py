"""Image tasks: version, build, tag, push."""

# Invoke passes the context `c` and every flag (--debug is read by shipyard_task) to each task.
# ruff: noqa: ARG001

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.tasks._common import context, emit, shipyard_task

if TYPE_CHECKING:
    from shipyard.context import Context
    from shipyard.operations.push import PushResult
    from shipyard.operations.version import VersionResult

REPOSITORY_HELP = "image repository (overrides ECR_REPOSITORY and the config's image.repository)"


def _overrides(repository: str | None) -> dict[str, Any]:
    return {"image.repository": repository}


@shipyard_task(
    help={
        "bump": "major | minor | patch | auto (main: minor; develop: patch-develop.N; tag vX.Y.Z)",
        "set": "set the version by hand, e.g. 1.2.3",
        "print": "compute and print the next version without writing version.txt",
        "allow_downgrade": "let --set go below the highest released version",
    }
)
def version(
    c: Any,
    env: str = "local",
    bump: str | None = None,
    set: str | None = None,
    print: bool = False,
    allow_downgrade: bool = False,
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Print version.txt, or bump/set it (the single source of truth)."""
    from shipyard.operations.version import VersionOptions, run

    ctx = context(env)
    opts = VersionOptions(
        bump=bump, set_to=set, print_only=print, dry_run=dry_run, allow_downgrade=allow_downgrade
    )
    result = run(ctx, opts)
    if result.plan:
        result.plan.show(ctx.console)
        return
    emit(
        ctx,
        json=json,
        document=lambda: {
            "previous": str(result.previous),
            "version": str(result.version),
            "written": result.written,
        },
        human=lambda: _show_version(ctx, result, print_only=print),
        outputs={"version": str(result.version)},
    )


def _show_version(ctx: Context, result: VersionResult, *, print_only: bool) -> None:
    if print_only or result.previous == result.version:
        ctx.console.line(str(result.version))
    else:
        ctx.console.line(f"{result.previous} -> {result.version}")
        ctx.console.progress(f"written to {result.file.name}")


@shipyard_task(
    help={
        "version": "build this version instead of version.txt's",
        "build_arg": "KEY=VALUE passed to the build (repeatable)",
        "platform": "comma-separated platforms, e.g. linux/amd64,linux/arm64",
        "latest": "multi-platform builds push their own tags: also push latest (not prereleases)",
        "repository": REPOSITORY_HELP,
    },
    iterable=["build_arg"],
)
def build(
    c: Any,
    env: str = "local",
    version: str | None = None,
    build_arg: list[str] | None = None,
    platform: str | None = None,
    latest: bool = False,
    repository: str | None = None,
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Build the app image with BuildKit: version/revision args, OCI labels, cache."""
    from shipyard.operations.build import BuildOptions, run

    ctx = context(env, overrides=_overrides(repository))
    platforms = tuple(p.strip() for p in platform.split(",") if p.strip()) if platform else None
    options = BuildOptions(
        version=version,
        build_args=tuple(build_arg or ()),
        platforms=platforms,
        latest=latest or None,
        dry_run=dry_run,
    )
    result = run(ctx, options)
    if result.plan:
        result.plan.show(ctx.console)
        return
    emit(
        ctx,
        json=json,
        document=lambda: {
            "image": result.image,
            "image_id": result.image_id,
            "version": result.version,
            "revision": result.revision,
            "cache_from": list(result.request.cache_from),
            "seconds": round(result.seconds, 2),
        },
        human=lambda: ctx.console.table(
            ["image", "id", "version", "revision", "time"],
            [
                [
                    result.image,
                    result.image_id.removeprefix("sha256:")[:12],
                    result.version,
                    result.revision[:7],
                    f"{result.seconds:.1f}s",
                ]
            ],
            title="build",
        ),
        outputs={"image": result.image, "version": result.version},
    )


@shipyard_task(
    help={
        "version": "tag this version instead of version.txt's",
        "latest": "also tag latest (never for a prerelease)",
        "repository": REPOSITORY_HELP,
    }
)
def tag(
    c: Any,
    env: str = "local",
    version: str | None = None,
    latest: bool = False,
    repository: str | None = None,
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Apply the tag strategy (deploy/shipyard.toml [image.tags]) in the registry's namespace."""
    from shipyard.operations.tag import TagOptions, run

    ctx = context(env, overrides=_overrides(repository))
    result = run(ctx, TagOptions(version=version, latest=latest or None, dry_run=dry_run))
    if result.plan:
        result.plan.show(ctx.console)
        return
    emit(
        ctx,
        json=json,
        document=lambda: {
            "source": result.source,
            "tags": list(result.refs),
            "notes": list(result.notes),
        },
        human=lambda: ctx.console.table(
            ["tag", "from"], [[r, result.source] for r in result.refs], title="tag"
        ),
        outputs={"tags": ",".join(result.refs)},
    )


@shipyard_task(
    help={
        "version": "push this version instead of version.txt's",
        "latest": "also push latest (never for a prerelease)",
        "repository": REPOSITORY_HELP,
    }
)
def push(
    c: Any,
    env: str = "local",
    version: str | None = None,
    latest: bool = False,
    repository: str | None = None,
    dry_run: bool = False,
    debug: bool = False,
    json: bool = False,
) -> None:
    """Log in (password on stdin), push every tag, print the digest; skip unchanged tags."""
    from shipyard.operations.push import PushOptions, run

    ctx = context(env, overrides=_overrides(repository))
    result = run(ctx, PushOptions(version=version, latest=latest or None, dry_run=dry_run))
    if result.plan:
        result.plan.show(ctx.console)
        return
    emit(
        ctx,
        json=json,
        document=lambda: {
            "digest": result.digest,
            "repository": result.repository,
            "tags": [{"ref": t.ref, "digest": t.digest, "skipped": t.skipped} for t in result.tags],
        },
        human=lambda: _show_push(ctx, result),
        outputs={"digest": result.digest, "image": result.pinned},
    )


def _show_push(ctx: Context, result: PushResult) -> None:
    ctx.console.table(
        ["tag", "digest", "pushed"],
        [[t.ref, t.digest, "skipped (unchanged)" if t.skipped else "yes"] for t in result.tags],
        title="push",
    )
    ctx.console.line(f"digest: {result.digest}")
