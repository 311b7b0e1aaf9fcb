"""inv tag: apply the tag strategy (config) to the built image, in the registry's namespace."""

from __future__ import annotations

import datetime as dt

import semver

from shipyard.adapters.registry import OciRegistry
from shipyard.commands import docker_tag as docker_tag_command
from shipyard.context import Context
from shipyard.errors import UsageError
from shipyard.images import image_ref
from shipyard.operations.version import resolve_version
from shipyard.plan import Plan
from shipyard.records import record
from shipyard.tags import compute_tags
from shipyard.versioning import docker_tag


def local_image(ctx: Context, version: semver.Version) -> str:
    return image_ref(None, ctx.config.image.repository, docker_tag(version))


@record
class TagOptions:
    version: str | None = None
    latest: bool | None = None  # None: the strategy's default
    dry_run: bool = False


@record
class TagResult:
    source: str
    refs: tuple[str, ...]
    notes: tuple[str, ...]
    plan: Plan | None = None


def registry_server(ctx: Context) -> str:
    """host[:port] of the registry. Naming tags needs no credentials, so none are resolved
    for an OCI registry (a missing password only matters to push)."""
    reg = ctx.config.registry
    if reg.kind == "oci":
        return OciRegistry(reg.url).server
    return ctx.registry.server


@record
class TagRefs:
    source: str  # the local image
    refs: tuple[str, ...]  # every registry reference, fixed ones first as the strategy lists
    fixed: tuple[str, ...]  # those that name one image forever
    notes: tuple[str, ...]
    commit: str = ""  # the checkout's HEAD the commit tag names

    @property
    def moving(self) -> tuple[str, ...]:
        return tuple(r for r in self.refs if r not in self.fixed)


def target_refs(ctx: Context, opts: TagOptions) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    found = tag_refs(ctx, opts)
    return found.source, found.refs, found.notes


def tag_refs(ctx: Context, opts: TagOptions) -> TagRefs:
    version = resolve_version(ctx, opts.version)
    head, branch = ctx.git.head_and_branch()
    tag_plan = compute_tags(
        ctx.config.image.tags,
        version,
        git_sha=head,
        when=dt.datetime.now(dt.UTC),
        branch=branch,
        latest=opts.latest,
    )
    server = registry_server(ctx)
    repo = ctx.config.image.repository
    refs = tuple(image_ref(server, repo, t) for t in tag_plan.tags)
    fixed = tuple(image_ref(server, repo, t) for t in tag_plan.fixed)
    return TagRefs(local_image(ctx, version), refs, fixed, tag_plan.notes, head)


def plan(ctx: Context, opts: TagOptions) -> Plan:
    source, refs, notes = target_refs(ctx, opts)
    p = Plan(f"tag {source}")
    for ref in refs:
        p.add("tag", ref, docker_tag_command(source, ref))
    p.notes.extend(notes)
    return p


def run(ctx: Context, opts: TagOptions) -> TagResult:
    source, refs, notes = target_refs(ctx, opts)
    if opts.dry_run:
        return TagResult(source, refs, notes, plan(ctx, opts))
    ctx.docker.ping()
    # docker tag itself says when the image is not there: no inspect beforehand
    built = ctx.docker.tag_all(source, refs) if refs else ctx.docker.image_id(source) is not None
    if not built:
        raise UsageError(f"image {source} is not built", hint="run inv build first")
    for note in notes:
        ctx.console.warn(note)
    return TagResult(source, refs, notes)
