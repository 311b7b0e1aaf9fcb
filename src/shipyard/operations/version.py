"""inv version: read, bump or set version.txt (the single source of truth)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import semver

from shipyard.context import Context
from shipyard.errors import RegistryError, UsageError, VersionError
from shipyard.fsutil import write_atomically
from shipyard.plan import Plan
from shipyard.versioning import BUMPS, allocate, check_set, docker_tag, parse, released_from_tags


@dataclass(frozen=True)
class VersionOptions:
    bump: str | None = None
    set_to: str | None = None
    print_only: bool = False  # compute and print, do not write
    dry_run: bool = False
    allow_downgrade: bool = False  # --set below the highest released version


@dataclass(frozen=True)
class VersionResult:
    previous: semver.Version
    version: semver.Version
    written: bool
    file: Path
    plan: Plan | None = None


def version_file(ctx: Context) -> Path:
    return ctx.path(ctx.config.project.version_file)


def _shown(ctx: Context, path: Path) -> str:
    return str(path.relative_to(ctx.root)) if path.is_relative_to(ctx.root) else str(path)


def read_current(ctx: Context) -> semver.Version:
    path = version_file(ctx)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise VersionError(
            f"{_shown(ctx, path)} does not exist", hint="create it with a version such as 0.1.0"
        ) from None
    except OSError as exc:
        raise VersionError(f"{_shown(ctx, path)}: cannot read: {exc.strerror}") from None
    return parse(text, source=_shown(ctx, path))


def resolve_version(ctx: Context, explicit: str | None) -> semver.Version:
    """`--version` when given, else version.txt's."""
    return parse(explicit, source="--version") if explicit else read_current(ctx)


def released_versions(ctx: Context) -> list[semver.Version]:
    """Every version released so far: the vX.Y.Z git tags reachable from HEAD and the version
    tags the environment's registry holds (what a fresh CI checkout cannot remember)."""
    tags = ctx.git.release_tags()
    try:
        tags += ctx.registry.tags(ctx.config.image.repository)
    except RegistryError as exc:
        raise RegistryError(
            f"cannot read the versions the registry holds: {exc.message}",
            hint="the next version is computed from them, so none is ever reused; "
            "start the registry or check its credentials",
        ) from None
    return released_from_tags(tags)


def _check_wanted(ctx: Context, wanted: semver.Version, opts: VersionOptions) -> None:
    """--set: never below what was released (unless allowed), never a version the registry
    holds for another commit."""
    check_set(wanted, released_versions(ctx), allow_downgrade=opts.allow_downgrade)
    held = ctx.registry.provenance(ctx.config.image.repository, docker_tag(wanted))
    head = ctx.git.head_sha()
    if held is not None and not (held.revision and head.startswith(held.revision)):
        built = f"commit {held.revision[:7]}" if held.revision else "an unknown commit"
        raise VersionError(
            f"--set {wanted}: the registry already holds {wanted} as {held.digest[:19]}, "
            f"built from {built}, not {head[:7]}",
            hint="a version names one image forever: choose a version not released yet",
        )


def run(ctx: Context, opts: VersionOptions) -> VersionResult:
    if opts.bump and opts.set_to:
        raise UsageError("--bump and --set exclude each other", hint="use one of them")
    if opts.bump and opts.bump not in BUMPS:
        raise UsageError(f"unknown --bump {opts.bump!r}", hint=f"choose one of {', '.join(BUMPS)}")
    # the requested value is checked before version.txt is even read: a bad --set never
    # depends on, or touches, the file
    wanted = parse(opts.set_to, source="--set") if opts.set_to else None
    current = read_current(ctx)
    path = version_file(ctx)
    if wanted is not None:
        _check_wanted(ctx, wanted, opts)
        new = wanted
        how = f"--set {opts.set_to}"
    elif opts.bump:
        git = ctx.git.state() if opts.bump == "auto" else None
        new = allocate(current, released_versions(ctx), opts.bump, git)
        how = f"--bump {opts.bump}"
    else:
        if opts.dry_run:
            p = Plan("version")
            p.add("read", f"{_shown(ctx, path)}: {current} (nothing to write)")
            return VersionResult(current, current, False, path, plan=p)
        return VersionResult(current, current, False, path)
    if opts.dry_run:
        p = Plan(f"version {how}")
        p.add("write", f"{_shown(ctx, path)}: {current} -> {new}")
        return VersionResult(current, new, False, path, plan=p)
    write = not opts.print_only and new != current
    if write:
        write_atomically(path, f"{new}\n")
    return VersionResult(current, new, write, path)
