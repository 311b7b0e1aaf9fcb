"""Version rules (pure). version.txt holds the app's current semantic version.

`--bump auto` follows the GamePulse plan: a checkout of tag vX.Y.Z releases exactly X.Y.Z;
on main the minor part goes up; on develop (and any other branch) the patch part goes up with a
prerelease naming the branch and a build counter, e.g. 1.4.1-develop.7.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import semver

from shipyard.errors import VersionError

Bump = Literal["major", "minor", "patch", "auto"]
BUMPS: tuple[str, ...] = ("major", "minor", "patch", "auto")
_TAG_RE = re.compile(r"^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$")


@dataclass(frozen=True)
class GitState:
    """What the version rules need to know about the checkout."""

    branch: str | None  # None when detached and not told by CI
    tag: str | None  # a tag pointing at HEAD, if any
    build_number: int  # CI run number, or the commit count


def parse(text: str, *, source: str = "version") -> semver.Version:
    value = text.strip()
    if value.startswith("v") and len(value) > 1 and value[1].isdigit():
        value = value[1:]
    try:
        return semver.Version.parse(value)
    except (ValueError, TypeError):
        raise VersionError(
            f"{source}: {text.strip()!r} is not a semantic version",
            hint="expected MAJOR.MINOR.PATCH such as 1.4.0 or 1.4.1-develop.7",
        ) from None


def bump(current: semver.Version, how: str, git: GitState | None = None) -> semver.Version:
    """The next version from `current`. Explicit bumps act on the release part, so a
    prerelease 1.4.1-develop.7 bumped by patch becomes 1.4.2."""
    release = current.finalize_version()
    if how == "major":
        return release.bump_major()
    if how == "minor":
        return release.bump_minor()
    if how == "patch":
        return release.bump_patch()
    if how == "auto":
        if git is None:
            raise VersionError("--bump auto needs the git checkout's state")
        return auto(current, git)
    raise VersionError(f"unknown bump {how!r}", hint=f"choose one of {', '.join(BUMPS)}")


def auto(current: semver.Version, git: GitState) -> semver.Version:
    if git.tag and (match := _TAG_RE.match(git.tag)):
        return parse(match.group(1), source=f"git tag {git.tag}")
    release = current.finalize_version()
    if git.branch in ("main", "master"):
        return release.bump_minor()
    if not git.branch:
        raise VersionError(
            "--bump auto cannot tell the branch of a detached checkout with no version tag",
            hint="check out a branch, set GITHUB_REF_NAME, or use --bump patch / --set X.Y.Z",
        )
    label = branch_label(git.branch)
    return release.bump_patch().replace(prerelease=f"{label}.{git.build_number}")


def branch_label(branch: str) -> str:
    """A branch name as a semver prerelease identifier: feature/Login_2 -> feature-login-2."""
    label = re.sub(r"[^0-9A-Za-z-]+", "-", branch).strip("-").lower()
    return label or "branch"


def is_prerelease(version: semver.Version) -> bool:
    return version.prerelease is not None


def docker_tag(version: semver.Version) -> str:
    """Docker tags allow no '+': build metadata is joined with '_' instead."""
    return str(version).replace("+", "_")
