"""Tag computation (pure): the tag strategy in config applied to one build."""

from __future__ import annotations

import datetime as dt
import re

import semver

from shipyard.config.model import TagsConfig
from shipyard.errors import UsageError
from shipyard.records import record
from shipyard.versioning import branch_label, docker_tag, is_prerelease

_VALID_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


FIXED_FIELDS = ("{version}", "{git_sha}")


@record
class TagPlan:
    tags: tuple[str, ...]
    notes: tuple[str, ...] = ()  # why a tag was left out, shown in plans
    # tags that name one image forever ({version}, {git_sha}); the others (latest, {date},
    # {branch}) move to each new release, and only after it succeeded
    fixed: tuple[str, ...] = ()


def compute_tags(
    strategy: TagsConfig,
    version: semver.Version,
    *,
    git_sha: str,
    when: dt.datetime,
    branch: str | None = None,
    latest: bool | None = None,
) -> TagPlan:
    """Tags for one image. `latest` (the --latest flag) overrides the strategy's default;
    a prerelease never gets latest."""
    values = {
        "version": docker_tag(version),
        "git_sha": git_sha[:7],
        "date": when.astimezone(dt.UTC).strftime("%Y%m%d"),
        "branch": branch_label(branch) if branch else "detached",
    }
    tags: list[str] = []
    notes: list[str] = []
    fixed: list[str] = []
    for template in strategy.templates:
        try:
            tag = template.format(**values)
        except (KeyError, IndexError, ValueError) as exc:
            raise UsageError(
                f"image.tags.templates: {template!r} uses an unknown field ({exc})",
                hint="templates know {version}, {git_sha}, {date} and {branch}",
            ) from None
        if not _VALID_TAG.match(tag):
            raise UsageError(f"tag {tag!r} (from {template!r}) is not a valid Docker tag")
        if tag not in tags:
            tags.append(tag)
            if any(field in template for field in FIXED_FIELDS):
                fixed.append(tag)
    want_latest = strategy.latest if latest is None else latest
    if want_latest:
        if is_prerelease(version):
            notes.append(f"latest not applied: {version} is a prerelease")
        elif "latest" not in tags:
            tags.append("latest")
    return TagPlan(tuple(tags), tuple(notes), tuple(fixed))
