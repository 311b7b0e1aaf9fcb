"""Image references and build requests as data (pure): what `docker buildx build` will be asked
to do (commands.docker_build turns a request into the one argv --dry-run shows and the Docker
adapter runs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import NamedTuple

from shipyard.errors import UsageError
from shipyard.records import record


class ImageRef(NamedTuple):
    """An image reference split into its parts: `host/repository:tag@digest`."""

    host: str | None  # a registry host has a dot or a port, or is localhost
    repository: str  # may hold a namespace: "team/app"
    tag: str | None
    digest: str | None


def parse_image_ref(ref: str) -> ImageRef:
    """The one parser of image references (task definitions, registry refs, build tags).

    "team/app" is a repository with a namespace, not a host: only a first part with a dot,
    a port or the name localhost is a registry host, as Docker itself decides."""
    rest, _, digest = ref.partition("@")
    host: str | None = None
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, rest = first, remainder
    tag: str | None = None
    name, colon, maybe_tag = rest.rpartition(":")
    if colon and "/" not in maybe_tag:
        rest, tag = name, maybe_tag
    return ImageRef(host, rest, tag, digest or None)


def image_ref(server: str | None, repository: str, tag: str) -> str:
    name = f"{server}/{repository}" if server else repository
    return f"{name}:{tag}"


def repository_name(server: str | None, repository: str) -> str:
    return f"{server}/{repository}" if server else repository


@record
class BuildRequest:
    context: str
    dockerfile: str
    tags: tuple[str, ...]
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ("linux/amd64",)
    cache_from: tuple[str, ...] = ()
    # a multi-platform result cannot be loaded into the engine: it goes to the registry
    push: bool = False

    @property
    def multi_platform(self) -> bool:
        return len(self.platforms) > 1


def parse_build_args(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """KEY=VALUE strings from --build-arg flags."""

    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not key.replace("_", "").isalnum():
            raise UsageError(
                f"--build-arg {pair!r} is not KEY=VALUE",
                hint="for example --build-arg HEALTHY=false",
            )
        result[key] = value
    return result
