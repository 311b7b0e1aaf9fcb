"""ECS Fargate rolling deploys as the rollout engine's phases (rollout/model.py: Target).

The services-stable waiter most tools use only compares counts, so a deployment the circuit
breaker rolled back looks "stable" and is reported green. Here the NEW deployment is followed
by its id: success is that deployment COMPLETED and PRIMARY, nothing else. FAILED, a circuit-
breaker rollback or the deployment disappearing are failures; another team's deployment
becoming PRIMARY is `Superseded` (theirs is never rolled back); running out of time is unknown.

    prepare   pre-flight (no rollout under way, alarms, image in ECR), render and register
    shift     update_service of every service (circuit breaker with rollback on)
    wait      follow each deployment by id          bake   stay PRIMARY, no failed tasks
    finalize  prune old revisions                    undo   update back to what served, watched

Records live in AWS itself: tags on the revisions (targets/ecs_records.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from shipyard.adapters.ecs import short_arn
from shipyard.config.targets import EcsServiceConfig
from shipyard.console import format_seconds
from shipyard.errors import (
    AwsError,
    ConfigError,
    DeployFailed,
    LockHeld,
    StateUnknown,
    Superseded,
    VerifyFailed,
)
from shipyard.locking import get_lock
from shipyard.plan import Plan
from shipyard.rollout.model import Attempt, Mark, Outcome, Serving
from shipyard.targets import ecs_settle
from shipyard.targets.base import Artifact, StatusReport
from shipyard.targets.ecs_base import CONTAINER_DEFAULTS, EcsBase, without_defaults
from shipyard.targets.ecs_records import OUTCOME, VERSION
from shipyard.targets.ecs_serving import serving_view
from shipyard.targets.ecs_watch import Move, View, Watched, primary_deployment

if TYPE_CHECKING:
    from shipyard.locking import Lock

__all__ = ["CONTAINER_DEFAULTS", "EcsTarget", "without_defaults"]


class EcsTarget(EcsBase):
    """Rolling update of every configured service with one image digest."""

    kind = "ecs"

    # -- observing -------------------------------------------------------------------------
    def lock(self) -> Lock:
        return get_lock(self.ctx)

    def view(self, name: str, svc: Mapping[str, Any]) -> View:
        return serving_view(name, svc)

    def serving_of(self, svc: Mapping[str, Any]) -> str | None:
        return self.view(str(svc.get("serviceName", "")), svc).serving

    def observe(self) -> Serving:
        """What each service's traffic runs, from describe_services; unknown when ECS cannot
        be asked (a service that does not exist is a configuration error)."""
        try:
            services = self.ecs.describe_services(self.cfg.cluster, self.names)
        except ConfigError:
            raise
        except AwsError as exc:
            return Serving(False, detail=f"ECS did not answer: {exc.one_line()}")
        return ecs_settle.serving(self, services)

    def reconcile(self, observed: Serving, *, follow: str | None = None) -> list[str]:
        return ecs_settle.reconcile(self, observed, follow)

    def status(self) -> StatusReport:
        return ecs_settle.status(self)

    def rollback_artifact(self, observed: Serving, to: str | None) -> Artifact:
        return ecs_settle.rollback_artifact(self, observed, to)

    # -- plan ------------------------------------------------------------------------------
    def plan(self, attempt: Attempt) -> Plan:
        art = attempt.artifact
        p = Plan(f"{attempt.kind} {art.version} to {self.environment} ({self.kind})")
        p.add("lock", f"DynamoDB {self.ctx.config.lock.table} item {self.environment}")
        checks = ", ".join(self.cfg.alarms) or "(none configured)"
        p.add("pre-flight", f"no rollout under way; alarms not in ALARM: {checks}")
        served = attempt.before.facts.get("serving", {})
        restore = art.restore.split(",") if attempt.kind == "rollback" else []
        for i, scfg in enumerate(self.cfg.services):
            if attempt.kind == "rollback":
                was = short_arn(served.get(scfg.name))
                p.add("rollback", f"{scfg.name}: {was} -> {short_arn(restore[i])}")
            else:
                r = self.render(scfg, art.image, art.version)
                detail = (
                    f"{r.family}: {' + '.join(r.sources)}, {self.container_of(scfg)} = {art.image}"
                )
                p.add("register", detail)
            p.extend(self.plan_switch(scfg))
        if self.public_url:
            p.add("verify", f"{self.public_url}; on failure or interrupt return every service")
        if self.bake_seconds:
            p.add("bake", f"{format_seconds(self.bake_seconds)}: PRIMARY, no failed tasks, checks")
        p.add("record", f"tag revisions with the outcome; keep {self.cfg.keep_revisions} revisions")
        return p

    def plan_switch(self, scfg: EcsServiceConfig) -> Plan:
        p = Plan("")
        breaker = " with circuit breaker (rollback)" if self.cfg.circuit_breaker else ""
        p.add("update-service", f"{self.cfg.cluster}/{scfg.name}{breaker}")
        timeout = format_seconds(self.cfg.timeout_seconds)
        p.add("watch", f"the new deployment until COMPLETED and PRIMARY (timeout {timeout})")
        return p

    # -- the phases ------------------------------------------------------------------------
    def moves(self, attempt: Attempt) -> list[Move]:
        moves: list[Move] = attempt.state.setdefault("moves", [])
        return moves

    def refuse_busy(self, before: Serving) -> None:
        if before.continuing:
            raise LockHeld(
                f"a deployment is already in progress: {before.continuing}",
                hint=f"wait for it (inv wait --env {self.environment}), then deploy again",
            )
        if not before.known:
            raise StateUnknown(f"what serves cannot be told ({before.detail}): nothing changed")

    def prepare(self, attempt: Attempt) -> None:
        """Pre-flight, then register this release's revisions (a rollback returns to the
        revisions `artifact.restore` names and registers nothing)."""
        attempt.state["started"] = self.clock()
        self.refuse_busy(attempt.before)
        served: dict[str, str | None] = attempt.before.facts.get("serving", {})
        events: dict[str, set[str]] = attempt.before.facts.get("events", {})
        if attempt.kind == "rollback":
            restore = attempt.artifact.restore.split(",")
            if len(restore) != len(self.cfg.services):
                raise DeployFailed(f"rollback names {len(restore)} revisions for {self.names}")
        else:
            self.check_alarms()
            if self.cfg.check_image:
                self.check_image(attempt.artifact)
        moves = self.moves(attempt)
        for i, scfg in enumerate(self.cfg.services):
            was = served.get(scfg.name)
            move = Move(
                scfg, self.container_of(scfg), was, "", seen_events=set(events.get(scfg.name, ()))
            )
            if attempt.kind == "rollback":
                move.new = restore[i]
            else:
                move.rendered = self.render(scfg, attempt.artifact.image, attempt.artifact.version)
                tags = self.release_tags(attempt.artifact, scfg, attempt.actor)
                move.new = self.ecs.register(move.rendered.document, tags)
                self.records.remember(move.new, tags)
                self.console.progress(
                    f"{scfg.name}: registered {short_arn(move.new)} (was {short_arn(was)})"
                )
            moves.append(move)
        attempt.release_id = ",".join(m.new for m in moves)
        self._details(attempt)

    def start(self, attempt: Attempt) -> None:
        """Nothing: Fargate starts tasks only when the service is updated (shift)."""

    def wait_healthy(self, attempt: Attempt) -> None:
        """Nothing: the rollout's health is followed after the update (wait_shifted)."""

    def direct_url(self, attempt: Attempt) -> str | None:  # noqa: ARG002
        return None  # new tasks are reachable only through the service's load balancer

    def shift(self, attempt: Attempt) -> None:
        for m in self.moves(attempt):
            if m.new == m.previous:
                self.console.progress(f"{m.service.name}: already on {short_arn(m.new)}")
                continue
            self.start_move(m, attempt)
        self._details(attempt)

    def start_move(self, m: Move, attempt: Attempt) -> None:
        m.moved = True  # before the call: a lost answer may still have moved the service
        svc = attempt.before.facts.get("services", {}).get(m.service.name, {})
        updated = self.ecs.update_service(
            self.cfg.cluster, m.service.name, m.new, deployment_configuration=self._breaker(svc)
        )
        for dep in updated.get("deployments", []):
            if dep.get("taskDefinition") == m.new and dep.get("status") == "PRIMARY":
                m.deployment = str(dep["id"])
        self.console.progress(
            f"{m.service.name}: update_service -> deployment {m.deployment or '?'}"
        )

    def _breaker(self, svc: Mapping[str, Any]) -> dict[str, Any] | None:
        if not self.cfg.circuit_breaker:
            return None
        current = dict(svc.get("deploymentConfiguration") or {})
        breaker = current.get("deploymentCircuitBreaker") or {}
        if breaker.get("enable") and breaker.get("rollback"):
            return None  # already on: leave the service's configuration untouched
        current["deploymentCircuitBreaker"] = {"enable": True, "rollback": True}
        return current

    def wait_shifted(self, attempt: Attempt) -> None:
        watched = self.follower.follow(self.moves(attempt), self.deadline())
        self._details(attempt)  # a deployment ECS listed only while followed has its id now
        if watched is not None:
            self.fail(watched)

    def fail(self, w: Watched, doing: str = "") -> NoReturn:
        what = f"{w.service}: {doing}{w.reason}"
        if w.end == "superseded":
            raise Superseded(
                f"{what}{self.who(w.primary)}",
                hint="theirs is left alone: shipyard does not roll back another deployment",
            )
        if w.end == "timeout":
            raise StateUnknown(
                what,
                hint=f"aws ecs describe-services --cluster {self.cfg.cluster} "
                f"--services {w.service}; inv wait --env {self.environment} follows it",
            )
        raise DeployFailed(what)

    def who(self, arn: str | None) -> str:
        """Who made `arn` (its shipyard tags, the principal that registered it), if known."""
        if not arn:
            return ""
        try:
            doc, tags = self.ecs.describe_task_definition(arn)
        except AwsError:
            return ""
        self.records.remember(arn, tags)
        version = tags.get(VERSION)
        by = tags.get("shipyard:actor")
        parts = [f"shipyard release {version}" + (f" by {by}" if by else "")] if version else []
        if doc.get("registeredBy"):
            parts.append(f"registered by {doc['registeredBy']}")
        return f" ({short_arn(arn)}: {'; '.join(parts)})" if parts else ""

    def bake(self, attempt: Attempt, until: float, probe: Callable[[], str | None]) -> None:
        """Until `until`: every service stays on our PRIMARY with no new failed tasks, and
        the public checks pass at each poll."""
        moves = [m for m in self.moves(attempt) if m.moved]
        base: dict[str, int] = {}
        if not moves or self.clock() >= until:
            return
        while True:
            services = self.ecs.describe_services(self.cfg.cluster, [m.service.name for m in moves])
            for m in moves:
                self._baking(m, services[m.service.name], base)
            reason = probe()
            if reason:
                raise VerifyFailed(f"while baking: {reason}")
            if self.clock() >= until:
                return
            self.sleep(min(self.cfg.poll_seconds, until - self.clock()))

    def _baking(self, m: Move, svc: Mapping[str, Any], base: dict[str, int]) -> None:
        primary = primary_deployment(svc) or {}
        if primary.get("taskDefinition") != m.new or primary.get("rolloutState") == "FAILED":
            watched = self.follower.judge(m, svc)
            if watched is not None and watched.end != "completed":
                self.fail(watched, "while baking: ")
            raise DeployFailed(f"{m.service.name}: {short_arn(m.new)} left PRIMARY while baking")
        failed = int(primary.get("failedTasks", 0))
        base.setdefault(m.service.name, failed)
        if failed > base[m.service.name]:
            self.follower.show_stopped(m)
            raise DeployFailed(
                f"{m.service.name}: {failed - base[m.service.name]} task(s) of "
                f"{short_arn(m.new)} failed while baking"
            )

    def finalize(self, attempt: Attempt) -> None:
        moves = self.moves(attempt)
        protect = {m.new for m in moves} | {m.previous for m in moves if m.previous}
        self.records.prune(self.cfg.keep_revisions, protect, self.console.progress)

    def undo(self, attempt: Attempt) -> str:
        """From observation: a service already back on what served (ECS's own rollback) is
        left as it is, or watched while ECS finishes it; one on our revision is updated back
        and that rollout watched; one on someone else's revision is left alone."""
        moves = [m for m in self.moves(attempt) if m.moved]
        if not moves:
            return ""
        services = self.ecs.describe_services(self.cfg.cluster, [m.service.name for m in moves])
        notes: list[str] = []
        back: list[Move] = []
        for m in reversed(moves):
            note, revert = self._undo_one(m, services[m.service.name])
            notes.append(note)
            back += [revert] if revert else []
        watched = self.follower.follow(back, self.deadline())
        if watched is not None:
            self.fail(watched, "returning to what served: ")
        return "; ".join(notes)

    def _undo_one(self, m: Move, svc: Mapping[str, Any]) -> tuple[str, Move | None]:
        name = m.service.name
        if m.previous is None:
            return f"{name}: no previous revision to return to", None
        primary = primary_deployment(svc) or {}
        now = primary.get("taskDefinition", svc.get("taskDefinition"))
        back = Move(m.service, m.container, m.new, m.previous, m.rendered, moved=True)
        back.seen_events = m.seen_events
        if now == m.previous and primary.get("rolloutState") == "IN_PROGRESS":
            back.deployment = str(primary.get("id"))
            return f"{name}: ECS is returning to {short_arn(m.previous)} ({back.deployment})", back
        if now == m.previous:
            return f"{name}: ECS had already returned to {short_arn(m.previous)}", None
        if now != m.new:
            return f"{name}: {short_arn(now)} is PRIMARY, not ours: left alone", None
        self.console.progress(f"{name}: rolling back to {short_arn(m.previous)}")
        updated = self.ecs.update_service(self.cfg.cluster, name, m.previous)
        for dep in updated.get("deployments", []):
            if dep.get("taskDefinition") == m.previous and dep.get("status") == "PRIMARY":
                back.deployment = str(dep["id"])
        return f"{name}: rolled back to {short_arn(m.previous)} ({back.deployment})", back

    def discard(self, attempt: Attempt) -> None:
        """Nothing to remove: a registered revision that never served is the attempt's record
        (finish tags its outcome) and pruning bounds their number."""

    def record(self, attempt: Attempt, mark: Mark) -> None:
        if attempt.kind == "deploy" and mark == "shifting":
            for m in self.moves(attempt):
                self.records.write(m.new, {OUTCOME: "shifting"})

    def finish(self, attempt: Attempt, outcome: Outcome, after: Serving, message: str) -> None:
        del message  # the engine's history and notifications carry it; the tags the outcome
        ecs_settle.finish(self, attempt, outcome, after)

    def _details(self, attempt: Attempt) -> None:
        moves = self.moves(attempt)
        attempt.details.update(
            {
                "target": self.kind,
                "cluster": self.cfg.cluster,
                "task_definition_arn": ",".join(m.new for m in moves),
                "deployment_id": ",".join(m.deployment or "" for m in moves),
                "services": {
                    m.service.name: {
                        "task_definition": m.new,
                        "previous": m.previous,
                        "deployment": m.deployment,
                    }
                    for m in moves
                },
            }
        )
