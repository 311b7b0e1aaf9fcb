"""Version rules (pure). version.txt holds the app's current semantic version.

`--bump auto` follows the branch: a checkout of tag vX.Y.Z releases exactly X.Y.Z;
on main the minor part goes up; on develop (and any other branch) the patch part goes up with a
prerelease naming the branch and a build counter, e.g. 1.4.1-develop.7.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

import semver

from shipyard.errors import VersionError
from shipyard.records import record

Bump = Literal["major", "minor", "patch", "auto"]
BUMPS: tuple[str, ...] = ("major", "minor", "patch", "auto")
_TAG_RE = r"^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$"
# a registry tag: Docker allows no '+', so docker_tag joins build metadata with '_'
_RELEASED_RE = r"^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:[+_][0-9A-Za-z.-]+)?)$"


@record
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
    """The next version after `current`, following SemVer precedence: a prerelease comes
    before its release, so 1.4.1-develop.7 bumped by patch is 1.4.1 and by minor 1.5.0."""
    if how in ("major", "minor", "patch"):
        return current.next_version(how)
    if how == "auto":
        if git is None:
            raise VersionError("--bump auto needs the git checkout's state")
        return auto(current, git)
    raise VersionError(f"unknown bump {how!r}", hint=f"choose one of {', '.join(BUMPS)}")


def auto(current: semver.Version, git: GitState) -> semver.Version:
    """The branch rules: tag vX.Y.Z -> X.Y.Z; main -> next minor; any other branch -> next
    patch as a prerelease `<branch>.<build number>` (1.4.0 on develop, run 7: 1.4.1-develop.7;
    1.4.1-develop.7 on develop, run 8: 1.4.1-develop.8)."""
    if git.tag and (match := re.match(_TAG_RE, git.tag)):
        return parse(match.group(1), source=f"git tag {git.tag}")
    if git.branch in ("main", "master"):
        return current.next_version("minor")
    if not git.branch:
        raise VersionError(
            "--bump auto cannot tell the branch of a detached checkout with no version tag",
            hint="check out a branch, set GITHUB_REF_NAME, or use --bump patch / --set X.Y.Z",
        )
    label = branch_label(git.branch)
    return current.next_version("patch").replace(prerelease=f"{label}.{git.build_number}")


def branch_label(branch: str) -> str:
    """A branch name as a semver prerelease identifier: feature/Login_2 -> feature-login-2."""
    label = re.sub(r"[^0-9A-Za-z-]+", "-", branch).strip("-").lower()
    if label.isdigit():
        # an all-digit identifier is numeric in SemVer (no leading zeros, compared as a number)
        label = f"branch-{label}"
    return label or "branch"


def is_prerelease(version: semver.Version) -> bool:
    return version.prerelease is not None


def docker_tag(version: semver.Version) -> str:
    """Docker tags allow no '+': build metadata is joined with '_' instead."""
    return str(version).replace("+", "_")


def from_docker_tag(tag: str) -> semver.Version | None:
    """The version a Docker tag names (the inverse of docker_tag), or None for other tags."""
    try:
        return semver.Version.parse(tag.replace("_", "+"))
    except ValueError:
        return None


def previous_release(tags: Iterable[str], version: semver.Version) -> str | None:
    """The tag of the newest version not newer than `version`: the image a build of `version`
    most likely shares layers with, used as build cache."""
    candidates = [(v, t) for t in tags if (v := from_docker_tag(t)) is not None and v <= version]
    if not candidates:
        return None
    return max(candidates, key=lambda pair: pair[0])[1]


def released_from_tags(tags: Iterable[str]) -> list[semver.Version]:
    """The versions a list of tags names: registry tags (`1.4.0`, `1.4.1-develop.7`,
    `1.4.2_build.5`) and git tags (`v1.4.0`, `v1.4.2+build.5`); every other tag is ignored."""
    found: list[semver.Version] = []
    for tag in tags:
        match = re.match(_RELEASED_RE, tag)
        if match and (version := from_docker_tag(match.group(1))) is not None:
            found.append(version)
    return found


def allocate(
    current: semver.Version,
    released: Iterable[semver.Version],
    how: str,
    git: GitState | None = None,
) -> semver.Version:
    """The next version, computed from what was released rather than remembered: the bump
    applies to the highest of version.txt and every released version, and a prerelease
    counter never repeats one already released (a fresh CI checkout never reuses a version).
    A checkout of tag vX.Y.Z releases exactly X.Y.Z."""
    known = sorted({*released, current})
    if how == "auto" and git is not None and git.tag and re.match(_TAG_RE, git.tag):
        return auto(current, git)
    new = bump(known[-1], how, git)
    taken = set(known)
    while new in taken and new.prerelease:
        new = new.bump_prerelease()
    return new


def check_set(
    wanted: semver.Version, released: Iterable[semver.Version], *, allow_downgrade: bool
) -> None:
    """`inv version --set`: refuse going below what was released (unless asked to)."""
    highest = max(released, default=None)
    if highest is not None and wanted < highest and not allow_downgrade:
        raise VersionError(
            f"--set {wanted} is lower than {highest}, already released",
            hint="versions only go up; pass --allow-downgrade if you really mean it",
        )
