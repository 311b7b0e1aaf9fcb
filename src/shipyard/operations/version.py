"""inv version: read, bump or set version.txt (the single source of truth)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import semver

from shipyard.context import Context
from shipyard.fsutil import write_atomically
from shipyard.errors import UsageError, VersionError
from shipyard.versioning import BUMPS, bump, parse


@dataclass(frozen=True)
class VersionOptions:
    bump: str | None = None
    set_to: str | None = None
    print_only: bool = False  # compute and print, do not write
    dry_run: bool = False


@dataclass(frozen=True)
class VersionResult:
    previous: semver.Version
    version: semver.Version
    written: bool
    file: Path


def version_file(ctx: Context) -> Path:
    return ctx.path(ctx.config.project.version_file)


def read_current(ctx: Context) -> semver.Version:
    path = version_file(ctx)
    rel = path.relative_to(ctx.root) if path.is_relative_to(ctx.root) else path
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise VersionError(f"{rel} does not exist", hint="create it with a version such as 0.1.0") from None
    return parse(text, source=str(rel))


def run(ctx: Context, opts: VersionOptions) -> VersionResult:
    if opts.bump and opts.set_to:
        raise UsageError("--bump and --set exclude each other", hint="use one of them")
    if opts.bump and opts.bump not in BUMPS:
        raise UsageError(f"unknown --bump {opts.bump!r}", hint=f"choose one of {', '.join(BUMPS)}")
    current = read_current(ctx)
    if opts.set_to:
        new = parse(opts.set_to, source="--set")
    elif opts.bump:
        git = ctx.git.state() if opts.bump == "auto" else None
        new = bump(current, opts.bump, git)
    else:
        return VersionResult(current, current, False, version_file(ctx))
    write = not (opts.print_only or opts.dry_run)
    if write and new != current:
        write_atomically(version_file(ctx), f"{new}\n")
    return VersionResult(current, new, write and new != current, version_file(ctx))
