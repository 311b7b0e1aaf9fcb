"""The ECS targets' observation, records and settling: what serves (as the engine's
`Serving`), the outcome tags written from it, reconcile after a --no-wait run or a kill,
`inv wait --deployment ID`, `inv status` with its mismatches, and the rollback choice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard.adapters.ecs import family_of, revision_of, short_arn
from shipyard.errors import AwsError, ConfigError, DeployFailed, StateUnknown
from shipyard.rollout.model import UNDER_WAY, Attempt, Outcome, Serving, serving_dict
from shipyard.targets.base import Artifact, StatusReport
from shipyard.targets.ecs_records import (
    DEPLOYED_AT,
    DIGEST,
    LEFT_AT,
    OUTCOME,
    TAG,
    UNSETTLED,
    VERSION,
    iso,
    mismatch_of,
    now_iso,
)
from shipyard.targets.ecs_watch import Move, View, Watched, primary_deployment

if TYPE_CHECKING:
    from shipyard.targets.ecs import EcsTarget


def _one(values: list[str | None]) -> str | None:
    found = set(values)
    return values[0] if len(found) == 1 else None


def serving(t: EcsTarget, services: Mapping[str, Mapping[str, Any]]) -> Serving:
    views = [t.view(name, services[name]) for name in t.names]
    facts: dict[str, Any] = {
        "services": {n: dict(services[n]) for n in t.names},
        "serving": {v.name: v.serving for v in views},
        "events": {n: {str(e.get("id")) for e in services[n].get("events", [])} for n in t.names},
        UNDER_WAY: [v.busy for v in views if v.busy],  # what inv wait follows to its end
    }
    continuing = "; ".join(v.continuing for v in views if v.continuing)
    detail = "; ".join(v.detail for v in views)
    arns = [v.serving for v in views]
    if not all(v.known for v in views) or None in arns:
        return Serving(False, detail=detail, continuing=continuing, facts=facts)
    release_id = ",".join(a for a in arns if a)
    try:
        tags = [t.records.tags(a) for a in arns if a]
    except AwsError as exc:
        detail += f"; its tags could not be read: {exc.one_line()}"
        return Serving(True, release_id, detail=detail, continuing=continuing, facts=facts)
    version = _one([tg.get(VERSION) for tg in tags])
    if version is None and any(tg.get(VERSION) for tg in tags):
        detail += "; the services run different versions"
    digest = _one([tg.get(DIGEST) for tg in tags])
    return Serving(True, release_id, version, digest, detail, continuing, facts)


# -- records ---------------------------------------------------------------------------------
def finish(t: EcsTarget, attempt: Attempt, outcome: Outcome, after: Serving) -> None:
    """The outcome on the revisions, as observed: a deploy's own revisions carry it; a
    successful rollback marks what it returned to live and when it left the other."""
    moves = [m for m in t.moves(attempt) if m.new]
    if not moves or outcome == "in_progress":
        return  # refused before anything was registered; or --no-wait: "shifting" stays
    ok = outcome == "succeeded"
    if attempt.kind == "deploy":
        for m in moves:
            t.records.settle(m.new, outcome, live=ok and after.known)
    elif ok:
        for m in moves:
            t.records.settle(m.new, "succeeded", live=True)
            if m.previous and m.previous != m.new:
                t.records.write(m.previous, {LEFT_AT: now_iso()})
    returned = after.same_release(attempt.before) and attempt.shifted
    rollback = (attempt.kind == "rollback" and ok) or (returned and not ok)
    seconds = t.clock() - float(attempt.state.get("started", t.clock()))
    for m in moves:
        try:
            t.cloudwatch.record_deploy(
                t.cfg.metrics_namespace,
                environment=t.environment,
                service=m.service.name,
                seconds=seconds,
                success=ok and attempt.kind == "deploy",
                failure=not ok,
                rollback=rollback,
            )
        except Exception as exc:  # a metric must never mask the outcome
            t.console.warn(f"could not record CloudWatch metrics: {exc}")


def reconcile(t: EcsTarget, observed: Serving, follow: str | None) -> list[str]:
    """With `follow`: watch that deployment to its end. Without: give an outcome to the
    revisions a --no-wait run or a killed one left pending/shifting, once their rollout
    ended; a rollout still under way is reported, not touched."""
    if follow:
        return follow_deployment(t, follow)
    if not observed.known:
        return []  # nothing to settle against; prepare refuses to start from here
    notes: list[str] = []
    services: dict[str, dict[str, Any]] = observed.facts.get("services", {})
    for name in t.names:
        notes += _settle_service(t, t.view(name, services[name]))
    return notes


def _settle_service(t: EcsTarget, view: View) -> list[str]:
    anchor = view.serving or view.target
    if anchor is None:
        return []
    notes: list[str] = []
    candidates = [view.serving] if view.serving else []
    candidates += t.records.newer(family_of(anchor), view.serving)
    later = max(revision_of(view.serving or ""), revision_of(view.target or ""))
    for arn in dict.fromkeys(a for a in candidates if a):
        outcome = t.records.outcome(arn)
        if outcome not in UNSETTLED:
            continue
        what = f"{view.name}: {short_arn(arn)} (recorded {outcome})"
        if view.busy and arn == view.target:
            notes.append(f"{view.continuing}; follow it: inv wait --env {t.environment}")
        elif arn == view.serving and not view.busy and outcome == "shifting":
            t.records.settle(arn, "succeeded", live=True)
            notes.append(
                f"{what} completed after shipyard stopped watching: recorded succeeded "
                f"(not verified by that run: inv verify --env {t.environment})"
            )
        elif arn != view.serving:
            ended = "superseded" if revision_of(arn) < later else "failed"
            ended = "interrupted" if outcome == "pending" else ended
            t.records.settle(arn, ended)
            notes.append(
                f"{what} does not serve ({short_arn(view.serving)} does): recorded {ended}"
            )
    return notes


def follow_deployment(t: EcsTarget, dep_id: str) -> list[str]:
    """inv wait --deployment ID: follow an ECS deployment until it ends."""
    services = t.ecs.describe_services(t.cfg.cluster, t.names)
    found = [
        (scfg, d)
        for scfg in t.cfg.services
        for d in services[scfg.name].get("deployments", [])
        if d.get("id") == dep_id
    ]
    if not found:
        now = serving(t, services)
        raise DeployFailed(
            f"deployment {dep_id} is not on {', '.join(t.names)} (it ended and another "
            f"replaced it); {now.describe()} serves"
        )
    scfg, dep = found[0]
    m = Move(scfg, t.container_of(scfg), None, str(dep.get("taskDefinition")), moved=True)
    m.deployment = dep_id
    watched = t.follower.follow([m], t.deadline())
    return _followed(t, m, watched)


def _followed(t: EcsTarget, m: Move, watched: Watched | None) -> list[str]:
    if watched is None:
        if t.records.outcome(m.new) in UNSETTLED:
            t.records.settle(m.new, "succeeded", live=True)
        return [
            f"deployment {m.deployment} of {m.service.name} completed: {short_arn(m.new)} serves"
        ]
    if watched.end == "timeout":
        t.fail(watched)
    if t.records.outcome(m.new) in UNSETTLED:
        t.records.settle(m.new, "superseded" if watched.end == "superseded" else "failed")
    now = t.observe()
    t.fail(watched, f"{now.describe()} serves; ")
    return []  # not reached: fail raises


# -- status ----------------------------------------------------------------------------------
def status(t: EcsTarget) -> StatusReport:
    try:
        services = t.ecs.describe_services(t.cfg.cluster, t.names)
    except ConfigError:
        raise
    except AwsError as exc:
        unknown = Serving(False, detail=exc.one_line())
        url = t.public_url
        return StatusReport(t.environment, url, None, [], serving_dict(unknown), exc.one_line())
    observed = serving(t, services)
    rows = [_row(t, scfg.name, services[scfg.name]) for scfg in t.cfg.services]
    first = rows[0]
    keys = ("version", "revision", "digest", "since", "rollout", "running")
    live = {**{k: first[k] for k in keys}, "release_id": first["revision"], "services": rows}
    anchor = t.view(t.names[0], services[t.names[0]])
    history: list[dict[str, Any]] = []
    if anchor.serving or anchor.target:
        history = t.records.history(family_of(str(anchor.serving or anchor.target)), anchor.serving)
    return StatusReport(
        t.environment, t.public_url, live, history, serving_dict(observed), _mismatch(t, observed)
    )


def _row(t: EcsTarget, name: str, svc: Mapping[str, Any]) -> dict[str, Any]:
    arn = t.view(name, svc).serving
    tags = t.records.tags(arn) if arn else {}
    primary = primary_deployment(svc) or {}
    digest = tags.get(DIGEST)
    if arn and not digest:  # not deployed by shipyard: read the image itself
        doc, _ = t.ecs.describe_task_definition(arn)
        scfg = next(s for s in t.cfg.services if s.name == name)
        for c in doc.get("containerDefinitions", []):
            if c.get("name") == t.container_of(scfg):
                image = str(c.get("image", ""))
                digest = image.split("@", 1)[1] if "@" in image else image
    return {
        "service": name,
        "version": tags.get(VERSION),
        "revision": short_arn(arn),
        "digest": digest,
        "git_revision": tags.get(f"{TAG}git-revision"),
        "outcome": tags.get(OUTCOME),
        "since": tags.get(DEPLOYED_AT) or iso(primary.get("createdAt")),
        "rollout": primary.get("rolloutState"),
        "running": f"{svc.get('runningCount', 0)}/{svc.get('desiredCount', 0)}",
        "deployments": len(svc.get("deployments", [])),
    }


def _mismatch(t: EcsTarget, observed: Serving) -> str:
    if not observed.known:
        return f"what serves cannot be told: {observed.detail}"
    found: list[str] = []
    services: dict[str, dict[str, Any]] = observed.facts["services"]
    for name in t.names:
        view = t.view(name, services[name])
        arn = view.serving
        found.append(mismatch_of(name, arn, t.records.tags(arn) if arn else {}, bool(view.busy)))
        for other in t.records.newer(family_of(arn or ""), arn) if arn else []:
            outcome = t.records.outcome(other)
            if outcome in UNSETTLED and other != view.target:
                found.append(
                    f"{name}: {short_arn(other)} is recorded {outcome} but no rollout runs it "
                    f"(inv wait --env {t.environment} settles the record)"
                )
    return "; ".join(f for f in found if f)


# -- rollback choice -------------------------------------------------------------------------
def rollback_artifact(t: EcsTarget, observed: Serving, to: str | None) -> Artifact:
    if not observed.known:
        raise StateUnknown(f"what serves cannot be told ({observed.detail}): nothing to roll back")
    served: dict[str, str | None] = observed.facts.get("serving", {})
    chosen: list[tuple[str, dict[str, str]]] = []
    for scfg in t.cfg.services:
        current = served.get(scfg.name)
        if current is None:
            raise DeployFailed(f"{scfg.name} runs no task definition yet: nothing to roll back")
        chosen.append(t.records.resolve(scfg.name, current, to))
    arn, tags = chosen[0]
    return Artifact(
        tags.get(VERSION, short_arn(arn)),
        "",
        tags.get(DIGEST, ""),
        tags.get(f"{TAG}git-revision", ""),
        restore=",".join(a for a, _ in chosen),
    )
