"""inv push: log in, push every tag, report the digest; skip what the registry already holds."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import field
from typing import Protocol, runtime_checkable

from shipyard.adapters.registry import Credentials, RemoteManifest
from shipyard.aside import Aside
from shipyard.commands import docker_login, docker_push
from shipyard.config.model import EcrRegistryConfig
from shipyard.context import Context
from shipyard.errors import RegistryError, UsageError
from shipyard.images import repository_name
from shipyard.operations.tag import (
    TagOptions,
    TagRefs,
    registry_server,
    tag_refs,
)
from shipyard.operations.version import resolve_version
from shipyard.plan import Plan
from shipyard.records import record
from shipyard.tag_mutability import check_tag_mutability
from shipyard.versioning import docker_tag


class TagTaken(UsageError):
    """The registry holds another image under a version or commit tag (exit 2)."""


@record
class PushOptions:
    version: str | None = None
    latest: bool | None = None
    dry_run: bool = False
    # the moving tags (latest, date, branch) too; a release pushes them only once it succeeded
    moving: bool = True


@record
class PushedTag:
    ref: str
    digest: str
    skipped: bool  # the registry already held this image under this tag


@record
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


# what docker says when its config file holds no login for the registry
LOGIN_LOST = "no basic auth credentials"


def _push_logged_in(ctx: Context, server: str, creds: Credentials | None, ref: str) -> None:
    """docker push, logging in once more when docker has lost the login made moments before:
    `docker login` rewrites ~/.docker/config.json whole, so another login on this machine (a
    second checkout releasing at the same time) can drop ours between login and push."""
    try:
        ctx.docker.push(ref)
    except RegistryError as exc:
        if creds is None or LOGIN_LOST not in exc.message:
            raise
        ctx.console.warn(f"docker lost the login to {server}, logging in again")
        ctx.docker.login(server, creds.username, creds.password)
        ctx.docker.push(ref)


def _tag_of(ref: str) -> str:
    return ref.rsplit(":", 1)[1]


def plan(ctx: Context, opts: PushOptions) -> Plan:
    found = tag_refs(ctx, TagOptions(opts.version, opts.latest))
    refs, notes = (found.refs if opts.moving else found.fixed), found.notes
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
            docker_login(server, username),
        )
    for ref in refs:
        p.add("push", f"{ref} (skipped if the registry already holds it)", docker_push(ref))
    p.notes.append("a version or commit tag the registry holds for another image is refused")
    p.notes.extend(notes)
    return p


@runtime_checkable
class _Retags(Protocol):
    def retag(self, repository: str, source_tag: str, new_tag: str) -> str: ...


def refuse_moved_versions(
    ctx: Context,
    version: str | None,
    image_id: str,
    found: TagRefs | None = None,
    remote: Mapping[str, RemoteManifest | None] | None = None,
) -> None:
    """A version tag names one image forever: refuse, before anything is pushed, to put
    another image under one the registry holds. (A commit tag follows the newest version
    built from its commit: the version is part of the image, so two versions of one commit
    are two images.) `found`: the refs the caller already computed for `version`; `remote`:
    the manifests it already read for them (the image's provenance is read only for a tag
    that holds another image)."""
    found = found or tag_refs(ctx, TagOptions(version))
    head = found.commit
    tag = docker_tag(resolve_version(ctx, version))
    repo = ctx.config.image.repository
    for ref in [r for r in found.fixed if tag in _tag_of(r)]:
        if remote is not None and ref in remote:
            manifest = remote[ref]
            if manifest is None or manifest.config_digest in (None, image_id):
                continue
        held = ctx.registry.provenance(repo, _tag_of(ref))
        if held is None or held.config_digest in (None, image_id):
            continue
        built = f"commit {held.revision[:7]}" if held.revision else "an unknown commit"
        if held.revision and head.startswith(held.revision):
            built += " (this commit, built differently)"
        raise TagTaken(
            f"{ref} already names {held.digest[:19]}, built from {built}; "
            "a version never moves to another image",
            hint="release a new version: inv release --bump patch (or inv version --set X.Y.Z)",
        )


def run(ctx: Context, opts: PushOptions) -> PushResult:
    found_refs = tag_refs(ctx, TagOptions(opts.version, opts.latest))
    source = found_refs.source
    refs = found_refs.refs if opts.moving else found_refs.fixed

    if isinstance(ctx.config.registry, EcrRegistryConfig):
        # an IMMUTABLE repository refuses a moving tag (latest, the date) only at the second
        # push: say so before anything is pushed
        check_tag_mutability(ctx.config.registry, ctx.config.image.tags, latest=opts.latest)
    repo = ctx.config.image.repository
    server = registry_server(ctx)
    repository = repository_name(server, repo)
    if opts.dry_run:
        return PushResult("", repository, plan=plan(ctx, opts))
    started = time.monotonic()
    registry = ctx.registry
    # the registry's manifests are read while docker inspects the image: neither waits for
    # the other (one after another, so a Bearer registry issues one token, not one per tag)
    reads = Aside(lambda: {ref: registry.manifest(repo, _tag_of(ref)) for ref in refs})
    found = ctx.docker.image_tags(source)
    if found is None:
        raise UsageError(f"image {source} is not built", hint="run inv build first")
    image_id, tagged = found
    missing = [r for r in refs if r not in tagged]
    if missing:
        raise UsageError(f"{missing[0]} is not tagged from {source}", hint="run inv tag first")
    held = reads.result()
    refuse_moved_versions(ctx, opts.version, image_id, found_refs, held)
    results: dict[str, PushedTag] = {}
    to_push: list[str] = []
    for ref in refs:
        remote = held[ref]
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
        _push_logged_in(ctx, server, creds, first)
        results[first] = PushedTag(first, _verified(ctx, repo, first, image_id), skipped=False)
        for ref in to_push[1:]:
            if isinstance(registry, _Retags):
                # the layers are there now: the other tags only need the same manifest
                ctx.console.progress(f"tagging {ref} in the registry")
                registry.retag(repo, _tag_of(first), _tag_of(ref))
            else:
                ctx.console.progress(f"pushing {ref}")
                _push_logged_in(ctx, server, creds, ref)
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


def move_tags(ctx: Context, version: str | None) -> list[str]:
    """After a release succeeded: point its moving tags (latest, date, branch) at the image
    its version tag names, in the registry itself (no push of layers)."""
    refs = tag_refs(ctx, TagOptions(version))
    registry = ctx.registry
    repo = ctx.config.image.repository
    version_tag = _tag_of(refs.fixed[0]) if refs.fixed else None
    if not refs.moving or version_tag is None:
        return []
    if not isinstance(registry, _Retags):
        raise RegistryError(f"registry {registry.server} cannot add a tag to a pushed image")
    for ref in refs.moving:
        registry.retag(repo, version_tag, _tag_of(ref))
    return [_tag_of(r) for r in refs.moving]
