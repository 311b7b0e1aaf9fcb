"""inv push: log in, push every tag, report the digest; skip what the registry already holds."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from shipyard.adapters.docker import login_argv
from shipyard.context import Context
from shipyard.errors import RegistryError, UsageError
from shipyard.images import repository_name
from shipyard.operations.tag import TagOptions, registry_server, target_refs
from shipyard.plan import Plan


@dataclass(frozen=True)
class PushOptions:
    version: str | None = None
    latest: bool | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class PushedTag:
    ref: str
    digest: str
    skipped: bool  # the registry already held this image under this tag


@dataclass(frozen=True)
class PushResult:
    digest: str
    repository: str  # <server>/<repository>
    tags: tuple[PushedTag, ...] = field(default_factory=tuple)
    seconds: float = 0.0
    plan: Plan | None = None

    @property
    def pinned(self) -> str:
        """The image pinned by digest, as deployments should reference it."""
        return f"{self.repository}@{self.digest}"


def _tag_of(ref: str) -> str:
    return ref.rsplit(":", 1)[1]


def plan(ctx: Context, opts: PushOptions) -> Plan:
    _, refs, notes = target_refs(ctx, TagOptions(opts.version, opts.latest))
    server = registry_server(ctx)
    p = Plan(f"push to {server}")
    reg = ctx.config.registry
    # the plan names the login without resolving the password: a dry run needs no secret
    username = (reg.username if reg.password else None) if reg.kind == "oci" else None
    if reg.kind != "oci":
        creds = ctx.registry.credentials()
        username = creds.username if creds else None
    if username:
        p.add(
            "login",
            f"{server} as {username} (password on stdin)",
            login_argv(server, username),
        )
    for ref in refs:
        p.add("push", f"{ref} (skipped if the registry already holds it)", ["docker", "push", ref])
    p.notes.extend(notes)
    return p


@runtime_checkable
class _Retags(Protocol):
    def retag(self, repository: str, source_tag: str, new_tag: str) -> str: ...


def run(ctx: Context, opts: PushOptions) -> PushResult:
    source, refs, _ = target_refs(ctx, TagOptions(opts.version, opts.latest))
    from shipyard.config.model import EcrRegistryConfig

    if isinstance(ctx.config.registry, EcrRegistryConfig):
        from shipyard.adapters.ecr import check_tag_mutability

        # an IMMUTABLE repository refuses a moving tag (latest, the date) only at the second
        # push: say so before anything is pushed
        check_tag_mutability(ctx.config.registry, ctx.config.image.tags, latest=opts.latest)
    repo = ctx.config.image.repository
    server = registry_server(ctx)
    repository = repository_name(server, repo)
    if opts.dry_run:
        return PushResult("", repository, plan=plan(ctx, opts))
    started = time.monotonic()
    found = ctx.docker.image_tags(source)
    if found is None:
        raise UsageError(f"image {source} is not built", hint="run inv build first")
    image_id, tagged = found
    missing = [r for r in refs if r not in tagged]
    if missing:
        raise UsageError(f"{missing[0]} is not tagged from {source}", hint="run inv tag first")
    registry = ctx.registry
    results: dict[str, PushedTag] = {}
    to_push: list[str] = []
    for ref in refs:
        remote = registry.manifest(repo, _tag_of(ref))
        if remote is not None and remote.config_digest == image_id:
            ctx.console.progress(f"{ref}: registry already holds {remote.digest[:19]}, skipped")
            results[ref] = PushedTag(ref, remote.digest, skipped=True)
        else:
            to_push.append(ref)
    if to_push:
        # logging in only when something is pushed keeps an unchanged push to a few requests
        creds = registry.credentials()
        if creds:
            ctx.docker.login(server, creds.username, creds.password)
        first = to_push[0]
        ctx.console.progress(f"pushing {first}")
        ctx.docker.push(first)
        results[first] = PushedTag(first, _verified(ctx, repo, first, image_id), skipped=False)
        for ref in to_push[1:]:
            if isinstance(registry, _Retags):
                # the layers are there now: the other tags only need the same manifest
                ctx.console.progress(f"tagging {ref} in the registry")
                registry.retag(repo, _tag_of(first), _tag_of(ref))
            else:
                ctx.console.progress(f"pushing {ref}")
                ctx.docker.push(ref)
            results[ref] = PushedTag(ref, _verified(ctx, repo, ref, image_id), skipped=False)
    pushed = [results[ref] for ref in refs]
    seconds = time.monotonic() - started
    return PushResult(pushed[0].digest, repository, tuple(pushed), seconds)


def _verified(ctx: Context, repo: str, ref: str, image_id: str) -> str:
    """The digest the registry now holds for `ref`, checked to be the pushed image."""
    after = ctx.registry.manifest(repo, _tag_of(ref))
    if after is None:
        raise RegistryError(f"pushed {ref} but the registry does not list it")
    if after.config_digest and after.config_digest != image_id:
        raise RegistryError(
            f"{ref}: the registry holds {after.config_digest[:19]}, not the pushed {image_id[:19]}",
            hint="another push raced this one; push again",
        )
    return after.digest
