"""inv build: build the app image with BuildKit (buildx), labelled and versioned."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import semver

from shipyard.context import Context
from shipyard.errors import ToolUnavailable, UsageError
from shipyard.images import BuildRequest, image_ref, parse_build_args
from shipyard.operations.version import read_current
from shipyard.plan import Plan
from shipyard.versioning import docker_tag, parse

MULTI_PLATFORM_HINT = (
    "the engine's own builder (driver 'docker') builds for its host platform only and cannot "
    "load a multi-platform image; create a docker-container builder with QEMU "
    "(`docker buildx create --use --driver docker-container` and binfmt emulators) and the "
    "build pushes the multi-platform result straight to the registry"
)


@dataclass(frozen=True)
class BuildOptions:
    version: str | None = None  # default: version.txt
    build_args: tuple[str, ...] = ()  # KEY=VALUE from --build-arg
    platforms: tuple[str, ...] | None = None  # default: image.platforms
    dry_run: bool = False


@dataclass(frozen=True)
class BuildResult:
    image: str  # local reference, <repository>:<version>
    image_id: str
    version: str
    revision: str
    request: BuildRequest
    seconds: float = 0.0
    plan: Plan | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def resolve_version(ctx: Context, explicit: str | None) -> semver.Version:
    return parse(explicit, source="--version") if explicit else read_current(ctx)


def local_image(ctx: Context, version: semver.Version) -> str:
    return image_ref(None, ctx.config.image.repository, docker_tag(version))


def build_request(ctx: Context, opts: BuildOptions) -> tuple[BuildRequest, semver.Version, str]:
    cfg = ctx.config.image
    version = resolve_version(ctx, opts.version)
    revision = ctx.git.head_sha()
    context_dir = ctx.path(cfg.context)
    dockerfile = context_dir / cfg.dockerfile
    if not dockerfile.is_file():
        raise UsageError(
            f"no Dockerfile at {dockerfile.relative_to(ctx.root) if dockerfile.is_relative_to(ctx.root) else dockerfile}",
            hint="set image.context / image.dockerfile in deploy/shipyard.toml",
        )
    platforms = tuple(opts.platforms or cfg.platforms)
    for platform in platforms:
        if not re.match(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$", platform):
            raise UsageError(f"--platform {platform!r} is not os/arch", hint="e.g. linux/amd64,linux/arm64")
    build_args = {
        **cfg.build_args,
        "APP_VERSION": str(version),
        "APP_REVISION": revision,
        # lets a pushed image serve as cache for the next build on another machine
        "BUILDKIT_INLINE_CACHE": "1",
        **parse_build_args(opts.build_args),
    }
    labels = {
        "org.opencontainers.image.version": str(version),
        "org.opencontainers.image.revision": revision,
        # the commit time, not the wall clock: an unchanged commit builds an identical image
        "org.opencontainers.image.created": ctx.git.commit_time(),
        "org.opencontainers.image.title": ctx.config.project.name,
        "dev.shipyard.project": ctx.config.project.name,
    }
    source = ctx.config.project.source_url or ctx.git.remote_url()
    if source:
        labels["org.opencontainers.image.source"] = source
    multi = len(platforms) > 1
    local = local_image(ctx, version)
    cache_from: tuple[str, ...] = ()
    if ctx.config.image.cache_from_previous:
        cache_from = (local,)
    request = BuildRequest(
        context=str(context_dir),
        dockerfile=str(dockerfile),
        tags=(local,),
        build_args=build_args,
        labels=labels,
        platforms=platforms,
        cache_from=cache_from,
        push=multi,
    )
    return request, version, revision


def plan(ctx: Context, opts: BuildOptions) -> Plan:
    request, version, _ = build_request(ctx, opts)
    p = Plan(f"build {ctx.config.image.repository} {version}")
    p.add("build", f"{request.context} for {', '.join(request.platforms)}", request.argv())
    if request.multi_platform:
        p.notes.append(f"multi-platform build: {MULTI_PLATFORM_HINT}")
    return p


def check_builder(ctx: Context, request: BuildRequest) -> None:
    driver, supported = ctx.docker.builder()
    missing = [p for p in request.platforms if supported and p not in supported]
    if request.multi_platform and driver == "docker":
        raise ToolUnavailable(
            f"cannot build for {', '.join(request.platforms)} here", hint=MULTI_PLATFORM_HINT
        )
    if missing:
        raise ToolUnavailable(
            f"the buildx builder ({driver}) cannot build for {', '.join(missing)}; "
            f"it supports {', '.join(supported)}",
            hint=MULTI_PLATFORM_HINT,
        )


def run(ctx: Context, opts: BuildOptions) -> BuildResult:
    request, version, revision = build_request(ctx, opts)
    if opts.dry_run:
        return BuildResult(
            request.tags[0], "", str(version), revision, request, plan=plan(ctx, opts)
        )
    ctx.docker.ping()
    check_builder(ctx, request)
    if request.cache_from and ctx.docker.image_id(request.cache_from[0]) is None:
        request = BuildRequest(**{**request.__dict__, "cache_from": ()})
    started = time.monotonic()
    ctx.console.progress(f"building {request.tags[0]} from {request.context}")

    def show(line: str) -> None:
        # BuildKit's step headers ("#5 [2/4] COPY ...") are the progress worth showing
        if re.match(r"^#\d+ \[", line) or " ERROR" in line:
            ctx.console.progress(line)

    with ctx.console.group(f"docker buildx build {request.tags[0]}"):
        image_id = ctx.docker.build(request, on_line=show)
    seconds = time.monotonic() - started
    ctx.console.progress(f"built {request.tags[0]} ({image_id[:19]}) in {seconds:.1f}s")
    return BuildResult(request.tags[0], image_id, str(version), revision, request, seconds)
