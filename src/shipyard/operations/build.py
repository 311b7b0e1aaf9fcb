"""inv build: build the app image with BuildKit (buildx), labelled and versioned."""

from __future__ import annotations

import re
import time
from dataclasses import field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import semver

from shipyard.aside import Aside
from shipyard.commands import docker_build
from shipyard.context import Context
from shipyard.errors import ShipyardError, ToolUnavailable, UsageError
from shipyard.images import BuildRequest, image_ref, parse_build_args
from shipyard.operations.tag import TagOptions, local_image, target_refs
from shipyard.operations.version import resolve_version
from shipyard.plan import Plan
from shipyard.records import record
from shipyard.versioning import previous_release

MULTI_PLATFORM_HINT = (
    "the engine's own builder (driver 'docker') builds for its host platform only and cannot "
    "load a multi-platform image; create a docker-container builder with QEMU "
    "(`docker buildx create --use --driver docker-container` and binfmt emulators) and the "
    "build pushes the multi-platform result straight to the registry"
)
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")


@runtime_checkable
class _ListsTags(Protocol):
    def tags(self, repository: str) -> list[str]: ...


@record
class BuildOptions:
    version: str | None = None  # default: version.txt
    build_args: tuple[str, ...] = ()  # KEY=VALUE from --build-arg
    platforms: tuple[str, ...] | None = None  # default: image.platforms
    # multi-platform builds push their own tags (nothing is loaded to tag later): --latest here
    latest: bool | None = None
    dry_run: bool = False


@record
class BuildResult:
    image: str  # local reference, <repository>:<version>
    image_id: str
    version: str
    revision: str
    request: BuildRequest
    seconds: float = 0.0
    plan: Plan | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _shown(ctx: Context, path: object) -> str:
    p = Path(str(path))
    return str(p.relative_to(ctx.root)) if p.is_relative_to(ctx.root) else str(p)


def parse_platforms(platforms: tuple[str, ...]) -> tuple[str, ...]:
    for platform in platforms:
        if not _PLATFORM.match(platform):
            raise UsageError(
                f"--platform {platform!r} is not os/arch", hint="e.g. linux/amd64,linux/arm64"
            )
    return platforms


def cache_sources(ctx: Context, version: semver.Version) -> tuple[str, ...]:
    """Images whose layers the build may reuse (BuildKit inline cache, BUILDKIT_INLINE_CACHE=1):
    the local image of this version or else of the newest earlier version; only when the engine
    has none (a fresh machine, CI), the registry's newest version not newer than this one.
    A local source is enough: a registry source makes BuildKit resolve it remotely on every
    build even when the same layers are here. Best effort: an engine or registry that cannot
    answer just means no cache."""
    repository = ctx.config.image.repository
    sources: list[str] = []
    try:
        local = previous_release(ctx.docker.local_tags(repository), version)
        if local:
            return (image_ref(None, repository, local),)
    except ShipyardError:
        pass
    try:
        registry = ctx.registry
        if isinstance(registry, _ListsTags):
            remote = previous_release(registry.tags(repository), version)
            if remote:
                sources.append(image_ref(registry.server, repository, remote))
    except ShipyardError:
        pass
    return tuple(sources)


def build_request(
    ctx: Context, opts: BuildOptions, *, with_cache: bool = True
) -> tuple[BuildRequest, semver.Version, str]:
    cfg = ctx.config.image
    version = resolve_version(ctx, opts.version)
    context_dir = ctx.path(cfg.context)
    dockerfile = context_dir / cfg.dockerfile
    if not dockerfile.is_file():
        raise UsageError(
            f"no Dockerfile at {_shown(ctx, dockerfile)}",
            hint="set image.context / image.dockerfile in deploy/shipyard.toml",
        )
    revision, committed = ctx.git.head_commit()
    platforms = parse_platforms(tuple(opts.platforms or cfg.platforms))
    build_args = {
        **cfg.build_args,
        "APP_VERSION": str(version),
        "APP_REVISION": revision,
        # embeds cache metadata in the image, so a pushed release serves as cache elsewhere
        "BUILDKIT_INLINE_CACHE": "1",
        **parse_build_args(opts.build_args),
    }
    labels = {
        "org.opencontainers.image.version": str(version),
        "org.opencontainers.image.revision": revision,
        # the commit time, not the wall clock: an unchanged commit builds an identical image
        "org.opencontainers.image.created": committed,
        "org.opencontainers.image.title": ctx.config.project.name,
        "dev.shipyard.project": ctx.config.project.name,
    }
    source = ctx.config.project.source_url or ctx.git.remote_url()
    if source:
        labels["org.opencontainers.image.source"] = source
    multi = len(platforms) > 1
    if multi:
        # a multi-platform result cannot be loaded into the engine: it is pushed under the
        # registry tags straight from the builder
        _, tags, _ = target_refs(ctx, TagOptions(version=str(version), latest=opts.latest))
    else:
        tags = (local_image(ctx, version),)
    cache = cache_sources(ctx, version) if with_cache and cfg.cache_from_previous else ()
    request = BuildRequest(
        context=str(context_dir),
        dockerfile=str(dockerfile),
        tags=tags,
        build_args=build_args,
        labels=labels,
        platforms=platforms,
        cache_from=cache,
        push=multi,
    )
    return request, version, revision


def plan_for(ctx: Context, request: BuildRequest, version: semver.Version) -> Plan:
    p = Plan(f"build {ctx.config.image.repository} {version}")
    p.add(
        "build",
        f"{_shown(ctx, request.context)} for {', '.join(request.platforms)}",
        docker_build(request),
    )
    if request.cache_from:
        p.notes.append(f"cache from {', '.join(request.cache_from)}")
    else:
        p.notes.append("no earlier image of this repository to use as cache")
    if request.multi_platform:
        p.notes.append(f"multi-platform build pushes {', '.join(request.tags)}")
        p.notes.append(f"multi-platform build: {MULTI_PLATFORM_HINT}")
    return p


def plan(ctx: Context, opts: BuildOptions) -> Plan:
    request, version, _ = build_request(ctx, opts)
    return plan_for(ctx, request, version)


def check_builder(ctx: Context, request: BuildRequest) -> None:
    driver, supported = ctx.docker.builder()
    missing = [p for p in request.platforms if supported and p not in supported]
    if request.multi_platform and driver == "docker":
        raise ToolUnavailable(
            f"cannot build for {', '.join(request.platforms)} with this machine's buildx builder "
            f"(driver 'docker', platforms {', '.join(supported) or 'unknown'})",
            hint=MULTI_PLATFORM_HINT,
        )
    if missing:
        raise ToolUnavailable(
            f"the buildx builder ({driver}) cannot build for {', '.join(missing)}; "
            f"it supports {', '.join(supported)}",
            hint=MULTI_PLATFORM_HINT,
        )


def run(ctx: Context, opts: BuildOptions) -> BuildResult:
    if opts.dry_run:
        request, version, revision = build_request(ctx, opts)
        return BuildResult(
            request.tags[0],
            "",
            str(version),
            revision,
            request,
            plan=plan_for(ctx, request, version),
        )
    # the engine's version and the images to cache from are asked while git is read
    docker = ctx.docker
    pinged = Aside(docker.ping)
    version = resolve_version(ctx, opts.version)
    cached = (
        Aside(lambda: cache_sources(ctx, version)) if ctx.config.image.cache_from_previous else None
    )
    request, version, revision = build_request(ctx, opts, with_cache=False)
    pinged.result()
    if request.platforms != (docker.native_platform,):
        # any builder builds for its engine's own platform: only others need the builder asked
        check_builder(ctx, request)
    if cached is not None:
        request = replace(request, cache_from=cached.result())
    started = time.monotonic()
    ctx.console.progress(f"building {request.tags[0]} from {_shown(ctx, request.context)}")
    if request.cache_from:
        ctx.console.progress(f"cache from {', '.join(request.cache_from)}")

    def show(line: str) -> None:
        # BuildKit's step headers ("#5 [2/4] COPY ...") and results are the progress worth showing
        if re.match(r"^#\d+ (\[|CACHED|ERROR)", line):
            ctx.console.progress(line)

    with ctx.console.group(f"docker buildx build {request.tags[0]}"):
        image_id = ctx.docker.build(request, on_line=show)
    seconds = time.monotonic() - started
    ctx.console.progress(f"built {request.tags[0]} ({image_id[:19]}) in {seconds:.1f}s")
    return BuildResult(request.tags[0], image_id, str(version), revision, request, seconds)
