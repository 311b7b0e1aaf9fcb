"""inv release: version -> build -> tag -> push -> deploy -> verify, holding the environment's
deploy lock from the first step to the last, ending with one table of every step's time and
outcome. The deploy step is a rollout (rollout/engine.py): it verifies, undoes on failure and
reports what serves; the verify step shows the gate it passed.

Extension points:
  * ReleaseOptions.extra_steps: ExtraStep(name, after="push" | "verify" | ..., run, plan)
    runs after the named step, inside the lock, timed in the table like any other step.
  * ReleaseOptions.on_finish: callables(ctx, ReleaseResult) run after the lock is released,
    whatever the outcome (notifications). Their failures are warnings, never the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import field
from typing import Any, Literal

from shipyard import interrupts
from shipyard.context import Context
from shipyard.errors import ConfigError, Interrupted, RolledBack, ShipyardError
from shipyard.history import current_actor
from shipyard.images import repository_name
from shipyard.locking import get_lock
from shipyard.operations import build, push, tag
from shipyard.operations.build import BuildOptions
from shipyard.operations.build import run as build_run
from shipyard.operations.push import PushOptions, move_tags
from shipyard.operations.push import run as push_run
from shipyard.operations.tag import TagOptions, target_refs
from shipyard.operations.tag import run as tag_run
from shipyard.operations.version import VersionOptions
from shipyard.operations.version import run as version_run
from shipyard.pipelines.steptable import StepLog
from shipyard.plan import Plan
from shipyard.preflight import check_environment, checked_first
from shipyard.records import record
from shipyard.rollout import api
from shipyard.rollout.lock import holding
from shipyard.targets import get_target
from shipyard.targets.base import Artifact, DeployOptions, DeployResult, VerifyResult
from shipyard.versioning import docker_tag, parse

ReleaseOutcome = Literal["succeeded", "failed", "rolled_back", "interrupted", "planned"]
CORE_STEPS = ("version", "build", "tag", "push", "deploy", "verify", "move tags")


@record(frozen=False)
class ReleaseState:
    """What the steps have produced so far; extra steps read (and may add to) it."""

    version: str | None = None
    previous_version: str | None = None
    local_image: str | None = None
    image: str | None = None  # pinned by digest, as deployed
    digest: str | None = None
    revision: str | None = None
    reused: bool = False  # build, tag and push were skipped: the registry holds this image
    deploy: DeployResult | None = None
    verify: VerifyResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@record
class ExtraStep:
    """EXTENSION POINT: one more step, run after the step named `after`."""

    name: str
    after: str
    run: Callable[[Context, ReleaseState], str]  # returns the table's detail text
    plan: Callable[[Context, ReleaseState], Plan | None] | None = None


@record
class ReleaseOptions:
    bump: str | None = None
    set_version: str | None = None
    build_args: tuple[str, ...] = ()
    # reuse the pushed image when the registry holds this version built from this commit
    rebuild: bool = False
    dry_run: bool = False
    lock_wait: float = 0.0
    message: str = ""
    actor: str = ""
    extra_steps: tuple[ExtraStep, ...] = ()  # EXTENSION POINT: scan, cleanup
    on_finish: tuple[Callable[[Context, ReleaseResult], None], ...] = ()  # EXTENSION POINT: notify


@record
class ReleaseResult:
    environment: str
    outcome: ReleaseOutcome
    version: str | None
    digest: str | None
    image: str | None
    release_id: str
    url: str | None
    seconds: float
    steps: StepLog | None = None
    plan: Plan | None = None
    error: BaseException | None = None
    state: ReleaseState | None = None

    def as_json(self) -> dict[str, Any]:
        details = self.state.deploy.details if self.state and self.state.deploy else {}
        message = ""
        if isinstance(self.error, ShipyardError):
            message = self.error.one_line()
        elif self.error is not None:
            message = "interrupted" if interrupts.is_interrupt(self.error) else str(self.error)
        return {
            "environment": self.environment,
            "outcome": self.outcome,
            "version": self.version,
            "digest": self.digest,
            "image": self.image,
            "release_id": self.release_id,
            "url": self.url,
            "task_definition_arn": details.get("task_definition_arn"),
            "deployment_id": details.get("deployment_id"),
            "seconds": round(self.seconds, 2),
            "steps": self.steps.as_list() if self.steps else [],
            "error": message,
            "exit_code": self.exit_code(),
            "serving": self.state.deploy.serving if self.state and self.state.deploy else None,
        }

    def exit_code(self) -> int:
        """The exit code `inv release` ends with for this result."""
        if self.error is None:
            return 0
        if isinstance(self.error, ShipyardError):
            return self.error.exit_code
        return 130 if interrupts.is_interrupt(self.error) else 1


def _order(opts: ReleaseOptions) -> list[str]:
    names = list(CORE_STEPS)
    last_after: dict[str, str] = {}  # extras with the same anchor keep their given order
    for extra in opts.extra_steps:
        anchor = last_after.get(extra.after, extra.after)
        if anchor not in names:
            anchor = names[-1]
        names.insert(names.index(anchor) + 1, extra.name)
        last_after[extra.after] = extra.name
    return names


def _actor(ctx: Context, opts: ReleaseOptions) -> str:
    return opts.actor or current_actor(ctx.environ)


# -- the steps --------------------------------------------------------------------------------
def _version(
    ctx: Context, opts: ReleaseOptions, state: ReleaseState, *, dry_run: bool = False
) -> str:
    result = version_run(
        ctx, VersionOptions(bump=opts.bump, set_to=opts.set_version, dry_run=dry_run)
    )
    state.version = str(result.version)
    state.previous_version = str(result.previous)
    if result.previous == result.version:
        return f"{result.version} (version.txt as is)"
    return f"{result.previous} -> {result.version}" + (" (not written)" if dry_run else "")


def pushed_build(ctx: Context, version: str) -> str | None:
    """The digest the registry holds for `version` when that image was built from this very
    commit (its version tag and its commit tag name the same manifest) and the build context
    has no uncommitted change. Releasing it again needs no build: CI's build job pushed it,
    the deploy job reuses it, and what was scanned is what is deployed."""

    if ctx.git.has_changes_in(ctx.config.image.context):
        return None
    sha = ctx.git.head_sha()[:7]
    _, refs, _ = target_refs(ctx, TagOptions(version=version, latest=False))
    tags = [ref.rsplit(":", 1)[1] for ref in refs]
    version_tag = docker_tag(parse(version))
    commit_tags = [t for t in tags if sha in t and t != version_tag]
    if version_tag not in tags or not commit_tags:
        return None  # a tag strategy without the commit cannot tell what the version holds
    repo = ctx.config.image.repository
    try:
        held = ctx.registry.manifest(repo, version_tag)
        commit = ctx.registry.manifest(repo, commit_tags[0])
    except ShipyardError:
        return None
    if held is None or commit is None or held.digest != commit.digest:
        return None
    if held.digest in _failed_here(ctx):
        return None  # what failed here is never deployed again by reuse; build anew
    return held.digest


def _failed_here(ctx: Context) -> set[str]:
    """Digests whose rollouts in this environment failed and never succeeded."""

    try:
        history = get_target(ctx).status().history
    except ShipyardError:
        return set()
    bad = {r.get("digest") for r in history if r.get("outcome") in ("failed", "rolled_back")}
    good = {r.get("digest") for r in history if r.get("outcome") == "succeeded"}
    return {str(d) for d in bad - good if d}


def _build(ctx: Context, opts: ReleaseOptions, state: ReleaseState) -> str:
    if not (opts.rebuild or opts.build_args) and state.version:
        digest = pushed_build(ctx, state.version)
        if digest:
            server = ctx.registry.server
            state.reused = True
            state.digest = digest
            state.image = f"{repository_name(server, ctx.config.image.repository)}@{digest}"
            state.revision = ctx.git.head_sha()
            return f"reused {digest[:19]}: the registry holds {state.version} of this commit"

    result = build_run(ctx, BuildOptions(version=state.version, build_args=opts.build_args))
    state.local_image = result.image
    state.revision = result.revision
    return f"{result.image} ({result.image_id[7:19]})"


def _tag(ctx: Context, _opts: ReleaseOptions, state: ReleaseState) -> str:
    result = tag_run(ctx, TagOptions(version=state.version))
    return ", ".join(r.rsplit(":", 1)[1] for r in result.refs)


def _push(ctx: Context, _opts: ReleaseOptions, state: ReleaseState) -> str:
    result = push_run(ctx, PushOptions(version=state.version, moving=False))
    state.image = result.pinned
    state.digest = result.digest
    return result.digest


def _move_tags(ctx: Context, _opts: ReleaseOptions, state: ReleaseState) -> str:
    """Moving tags follow a release only once it succeeded."""

    try:
        moved = move_tags(ctx, state.version)
    except ShipyardError as exc:
        ctx.console.warn(f"the moving tags did not move: {exc.one_line()}")
        return f"not moved: {exc.one_line()} (the release stands; inv push moves them)"
    return f"{', '.join(moved)} -> {state.version}" if moved else "no moving tags configured"


def _deploy(ctx: Context, opts: ReleaseOptions, state: ReleaseState) -> str:
    if not (state.version and state.image and state.digest):
        raise RuntimeError("deploy needs the pushed image; push did not run")
    artifact = Artifact(
        state.version, state.image, state.digest, state.revision or ctx.git.head_sha()
    )
    try:
        result = api.deploy(
            ctx,
            artifact,
            DeployOptions(message=opts.message, actor=_actor(ctx, opts), notify=False),
        )
    except ShipyardError as exc:
        if isinstance(exc.result, DeployResult):
            state.deploy = exc.result
        raise
    state.deploy = result
    return f"release {result.release_id} serves at {result.url}" if result.release_id else ""


def verify_url(ctx: Context, state: ReleaseState) -> str:
    url = (state.deploy.url if state.deploy else None) or ctx.config.verify.url
    if not url:
        raise ConfigError(
            f"no URL to verify {ctx.environment} at",
            hint="set verify.url in the environment's file",
        )
    return url


def _verify(ctx: Context, _opts: ReleaseOptions, state: ReleaseState) -> str:
    """The rollout ran the checks as its gate (and would have switched back on a failure);
    this step reports them."""
    checks = len(ctx.config.verify.checks)
    return f"{checks}/{checks} checks passed at {verify_url(ctx, state)} in the rollout's gate"


_STEPS: dict[str, Callable[[Context, ReleaseOptions, ReleaseState], str]] = {
    "version": _version,
    "build": _build,
    "tag": _tag,
    "push": _push,
    "deploy": _deploy,
    "verify": _verify,
    "move tags": _move_tags,
}


# -- plan and run -----------------------------------------------------------------------------
def plan(ctx: Context, opts: ReleaseOptions) -> Plan:
    check_environment(ctx)
    state = ReleaseState()
    p = Plan(f"release to {ctx.environment}")
    p.add("lock", f"hold the {ctx.environment} deploy lock for the whole release")
    p.add("version", _version(ctx, opts, state, dry_run=True))
    for name in _order(opts):
        extra = next((e for e in opts.extra_steps if e.name == name), None)
        if extra is not None:
            sub = extra.plan(ctx, state) if extra.plan else None
            if sub is not None:
                p.extend(sub)
            else:
                p.add(extra.name, f"after {extra.after}")
        elif name == "build":
            if not (opts.rebuild or opts.build_args):
                p.notes.append(
                    "build, tag and push are skipped when the registry already holds this "
                    "version built from this commit (--rebuild builds anyway)"
                )
            p.extend(
                build.plan(
                    ctx, build.BuildOptions(version=state.version, build_args=opts.build_args)
                )
            )
        elif name == "tag":
            p.extend(tag.plan(ctx, tag.TagOptions(version=state.version)))
        elif name == "push":
            p.extend(push.plan(ctx, push.PushOptions(version=state.version, moving=False)))
        elif name == "move tags":
            p.add("move tags", "latest / date / branch tags -> this version, once it succeeded")
        elif name == "deploy":
            repo = repository_name(ctx.registry.server, ctx.config.image.repository)
            artifact = Artifact(
                state.version or "", f"{repo}@<digest from push>", "", ctx.git.head_sha()
            )
            result = api.deploy(ctx, artifact, DeployOptions(dry_run=True))
            if result.plan is not None:
                p.extend(result.plan)
            state.deploy = result
        elif name == "verify":
            url = verify_url(ctx, state)
            checks = ", ".join(c.path for c in ctx.config.verify.checks)
            p.add("verify", f"{checks} at {url}; on failure roll back to the previous release")
    return p


@checked_first  # check_environment(ctx) before anything (run is at the 60-line limit)
def run(ctx: Context, opts: ReleaseOptions) -> ReleaseResult:
    """Run the release. Never raises for a failed step: the error is in result.error, so the
    caller can print the table (or JSON) first and exit with the error's code after."""

    if opts.dry_run:
        return ReleaseResult(
            ctx.environment, "planned", None, None, None, "", None, 0.0, plan=plan(ctx, opts)
        )
    started = time.monotonic()
    steps = StepLog(ctx.console)
    state = ReleaseState()
    order = _order(opts)
    error: BaseException | None = None
    try:
        with holding(
            get_lock(ctx),
            root=ctx.root,
            environment=ctx.environment,
            message=opts.message or f"release to {ctx.environment}",
            wait=opts.lock_wait,
            console=ctx.console,
        ):
            _run_steps(ctx, opts, state, steps, order)
    except BaseException as exc:
        error = exc
        last = steps.records[-1] if steps.records else None
        if last is not None and last.outcome == "failed" and _interrupted(exc):
            last.outcome = "interrupted"
    for name in order:
        if name not in {r.name for r in steps.records}:
            steps.skip(name, "not run: an earlier step did not succeed")
    outcome: ReleaseOutcome = "succeeded"
    if error is not None:
        if _interrupted(error):
            outcome = "interrupted"
        elif isinstance(error, RolledBack):
            outcome = "rolled_back"
        else:
            outcome = "failed"
    result = ReleaseResult(
        ctx.environment,
        outcome,
        state.version,
        state.digest,
        state.image,
        state.deploy.release_id if state.deploy else "",
        state.deploy.url if state.deploy else None,
        time.monotonic() - started,
        steps=steps,
        error=error,
        state=state,
    )
    for hook in opts.on_finish:
        try:
            hook(ctx, result)
        except Exception as exc:
            ctx.console.warn(f"after the release: {exc}")
    return result


def _run_steps(
    ctx: Context, opts: ReleaseOptions, state: ReleaseState, steps: StepLog, order: list[str]
) -> None:
    extras = {e.name: e for e in opts.extra_steps}
    for name in order:
        if state.reused and name in ("tag", "push"):
            steps.skip(name, "reusing the pushed image (inv release --rebuild to build anew)")
            continue
        with steps.step(name) as handle:
            extra = extras.get(name)
            handle.detail = extra.run(ctx, state) if extra else _STEPS[name](ctx, opts, state)


def _interrupted(exc: BaseException) -> bool:
    return interrupts.is_interrupt(exc) or isinstance(exc, Interrupted)


def show(result: ReleaseResult, ctx: Context) -> None:
    if result.plan is not None:
        result.plan.show(ctx.console)
        return
    assert result.steps is not None
    result.steps.show(f"release {result.version or ''} to {result.environment}: {result.outcome}")


__all__ = [
    "CORE_STEPS",
    "ExtraStep",
    "ReleaseOptions",
    "ReleaseResult",
    "ReleaseState",
    "plan",
    "run",
    "show",
]
