"""Image references and build requests as data (pure): what `docker buildx build` will be asked
to do, shown verbatim by --dry-run and executed by the Docker adapter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


def image_ref(server: str | None, repository: str, tag: str) -> str:
    name = f"{server}/{repository}" if server else repository
    return f"{name}:{tag}"


def repository_name(server: str | None, repository: str) -> str:
    return f"{server}/{repository}" if server else repository


@dataclass(frozen=True)
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

    def argv(self) -> list[str]:
        argv = ["docker", "buildx", "build", "--file", self.dockerfile]
        for tag in self.tags:
            argv += ["--tag", tag]
        for key, value in sorted(self.build_args.items()):
            argv += ["--build-arg", f"{key}={value}"]
        for key, value in sorted(self.labels.items()):
            argv += ["--label", f"{key}={value}"]
        argv += ["--platform", ",".join(self.platforms)]
        for ref in self.cache_from:
            argv += ["--cache-from", ref]
        argv.append("--push" if self.push else "--load")
        argv.append(self.context)
        return argv


def parse_build_args(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """KEY=VALUE strings from --build-arg flags."""
    from shipyard.errors import UsageError

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
