"""Tag mutability against the tag strategy (pure): which tag templates move to each new image,
and whether an ECR repository's tag mutability setting would refuse them on a second push."""

from __future__ import annotations

import fnmatch

from shipyard.config.model import EcrRegistryConfig, TagsConfig
from shipyard.errors import ConfigError
from shipyard.tags import FIXED_FIELDS


def moving_tags(tags: TagsConfig, *, latest: bool | None = None) -> list[str]:
    """Tag templates that point at a new image over time: `latest`, `{date}` (every release
    of a day), `{branch}`. A template holding {version} or {git_sha} names one image."""
    moving = [t for t in tags.templates if not any(f in t for f in FIXED_FIELDS)]
    if (tags.latest if latest is None else latest) and "latest" not in moving:
        moving.append("latest")
    return moving


def wildcard_match(pattern: str, tag: str) -> bool:
    return fnmatch.fnmatchcase(tag, pattern.replace("[", "[[]"))


def _example(template: str) -> str:
    return (
        template.replace("{date}", "20250101")
        .replace("{branch}", "main")
        .replace("{git_sha}", "abc1234")
    )


def tag_mutability_conflicts(
    cfg: EcrRegistryConfig, tags: TagsConfig, *, latest: bool | None = None
) -> list[str]:
    """The moving tags an immutable repository would refuse on their second push."""
    if cfg.tag_mutability == "MUTABLE":
        return []
    conflicts = []
    for template in moving_tags(tags, latest=latest):
        if cfg.tag_mutability == "IMMUTABLE_WITH_EXCLUSION" and any(
            wildcard_match(p, _example(template)) for p in cfg.mutable_tags
        ):
            continue
        conflicts.append(template)
    return conflicts


def _pattern(template: str) -> str:
    if template == "latest":
        return template
    return _example(template).replace("20250101", "20*").replace("main", "*")


def check_tag_mutability(
    cfg: EcrRegistryConfig, tags: TagsConfig, *, latest: bool | None = None
) -> None:
    conflicts = tag_mutability_conflicts(cfg, tags, latest=latest)
    if not conflicts:
        return
    shown = ", ".join(conflicts)
    patterns = ", ".join(f'"{_pattern(c)}"' for c in conflicts)
    raise ConfigError(
        f"registry.tag_mutability = {cfg.tag_mutability!r} refuses moving tags, but the tag "
        f"strategy moves {shown} to each new image: the second push of the day/release would "
        "fail at ECR",
        hint=f'set registry.tag_mutability = "MUTABLE", or "IMMUTABLE_WITH_EXCLUSION" with '
        f"registry.mutable_tags = [{patterns}], or drop them from image.tags",
    )
