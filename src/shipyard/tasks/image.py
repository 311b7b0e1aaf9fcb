"""Image tasks: version, build, tag, push."""

# Invoke passes the context `c` to each task; not all use it
# ruff: noqa: ARG001

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.tasks._common import context, report
from shipyard.tasks._flags import bind, dry_run_flag, env_flag, flag, task_options

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shipyard.context import Context
    from shipyard.operations.build import BuildOptions, BuildResult
    from shipyard.operations.push import PushResult
    from shipyard.operations.tag import TagResult
    from shipyard.operations.version import VersionOptions, VersionResult

REPOSITORY_HELP = "image repository (overrides ECR_REPOSITORY and the config's image.repository)"


def _image_context(env: str, repository: str | None) -> Context:
    return context(env, overrides={"image.repository": repository})


@task_options
class VersionFlags:
    env: str = env_flag()
    bump: str | None = flag(
        None, "major | minor | patch | auto (main: minor; develop: patch-develop.N; tag vX.Y.Z)"
    )
    set_to: str | None = flag(None, "set the version by hand, e.g. 1.2.3", name="set")
    print_only: bool = flag(
        False, "compute and print the next version without writing version.txt", name="print"
    )
    allow_downgrade: bool = flag(False, "let --set go below the highest released version")
    dry_run: bool = dry_run_flag()


@bind(VersionFlags)
def version(c: Any, opts: VersionFlags) -> None:
    """Print version.txt, or bump/set it (the single source of truth)."""
    from shipyard.operations.version import run

    ctx = context(opts.env)
    result = run(ctx, _version_options(opts))
    report(
        ctx.console,
        plan=result.plan,
        document=lambda: {
            "previous": str(result.previous),
            "version": str(result.version),
            "written": result.written,
        },
        human=lambda: _show_version(ctx, result, print_only=opts.print_only),
        outputs={"version": str(result.version)},
    )


def _version_options(opts: VersionFlags) -> VersionOptions:
    from shipyard.operations.version import VersionOptions

    return VersionOptions(
        bump=opts.bump,
        set_to=opts.set_to,
        print_only=opts.print_only,
        dry_run=opts.dry_run,
        allow_downgrade=opts.allow_downgrade,
    )


def _show_version(ctx: Context, result: VersionResult, *, print_only: bool) -> None:
    if print_only or result.previous == result.version:
        ctx.console.line(str(result.version))
    else:
        ctx.console.line(f"{result.previous} -> {result.version}")
        ctx.console.progress(f"written to {result.file.name}")


@task_options
class BuildFlags:
    env: str = env_flag()
    version: str | None = flag(None, "build this version instead of version.txt's")
    build_arg: Sequence[str] | None = flag(
        None, "KEY=VALUE passed to the build (repeatable)", iterable=True
    )
    platform: str | None = flag(None, "comma-separated platforms, e.g. linux/amd64,linux/arm64")
    latest: bool = flag(
        False, "multi-platform builds push their own tags: also push latest (not prereleases)"
    )
    repository: str | None = flag(None, REPOSITORY_HELP)
    dry_run: bool = dry_run_flag()


@bind(BuildFlags)
def build(c: Any, opts: BuildFlags) -> None:
    """Build the app image with BuildKit: version/revision args, OCI labels, cache."""
    from shipyard.operations.build import run

    ctx = _image_context(opts.env, opts.repository)
    result = run(ctx, _build_options(opts))
    report(
        ctx.console,
        plan=result.plan,
        document=lambda: _build_document(result),
        human=lambda: _show_build(ctx, result),
        outputs={"image": result.image, "version": result.version},
    )


def _build_options(opts: BuildFlags) -> BuildOptions:
    from shipyard.operations.build import BuildOptions

    platform = opts.platform
    platforms = tuple(p.strip() for p in platform.split(",") if p.strip()) if platform else None
    return BuildOptions(
        version=opts.version,
        build_args=tuple(opts.build_arg or ()),
        platforms=platforms,
        latest=opts.latest or None,
        dry_run=opts.dry_run,
    )


def _build_document(result: BuildResult) -> Any:
    return {
        "image": result.image,
        "image_id": result.image_id,
        "version": result.version,
        "revision": result.revision,
        "cache_from": list(result.request.cache_from),
        "seconds": round(result.seconds, 2),
    }


def _show_build(ctx: Context, result: BuildResult) -> None:
    ctx.console.table(
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
    )


@task_options
class TagFlags:
    env: str = env_flag()
    version: str | None = flag(None, "tag this version instead of version.txt's")
    latest: bool = flag(False, "also tag latest (never for a prerelease)")
    repository: str | None = flag(None, REPOSITORY_HELP)
    dry_run: bool = dry_run_flag()


@bind(TagFlags)
def tag(c: Any, opts: TagFlags) -> None:
    """Apply the tag strategy (deploy/shipyard.toml [image.tags]) in the registry's namespace."""
    from shipyard.operations.tag import TagOptions, run

    ctx = _image_context(opts.env, opts.repository)
    result = run(
        ctx, TagOptions(version=opts.version, latest=opts.latest or None, dry_run=opts.dry_run)
    )
    report(
        ctx.console,
        plan=result.plan,
        document=lambda: _tag_document(result),
        human=lambda: _show_tag(ctx, result),
        outputs={"tags": ",".join(result.refs)},
    )


def _tag_document(result: TagResult) -> Any:
    return {"source": result.source, "tags": list(result.refs), "notes": list(result.notes)}


def _show_tag(ctx: Context, result: TagResult) -> None:
    ctx.console.table(["tag", "from"], [[r, result.source] for r in result.refs], title="tag")


@task_options
class PushFlags:
    env: str = env_flag()
    version: str | None = flag(None, "push this version instead of version.txt's")
    latest: bool = flag(False, "also push latest (never for a prerelease)")
    repository: str | None = flag(None, REPOSITORY_HELP)
    dry_run: bool = dry_run_flag()


@bind(PushFlags)
def push(c: Any, opts: PushFlags) -> None:
    """Log in (password on stdin), push every tag, print the digest; skip unchanged tags."""
    from shipyard.operations.push import PushOptions, run

    ctx = _image_context(opts.env, opts.repository)
    result = run(
        ctx, PushOptions(version=opts.version, latest=opts.latest or None, dry_run=opts.dry_run)
    )
    report(
        ctx.console,
        plan=result.plan,
        document=lambda: _push_document(result),
        human=lambda: _show_push(ctx, result),
        outputs={"digest": result.digest, "image": result.pinned},
    )


def _push_document(result: PushResult) -> Any:
    return {
        "digest": result.digest,
        "repository": result.repository,
        "tags": [{"ref": t.ref, "digest": t.digest, "skipped": t.skipped} for t in result.tags],
    }


def _show_push(ctx: Context, result: PushResult) -> None:
    ctx.console.table(
        ["tag", "digest", "pushed"],
        [[t.ref, t.digest, "skipped (unchanged)" if t.skipped else "yes"] for t in result.tags],
        title="push",
    )
    ctx.console.line(f"digest: {result.digest}")
