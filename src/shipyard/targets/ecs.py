"""ECS Fargate rolling deploys that never call a failed rollout a success.

The services-stable waiter most tools use only compares counts, so a deployment the circuit
breaker rolled back looks "stable" and is reported green. Here the NEW deployment is followed
by its id: success is that deployment COMPLETED and PRIMARY, nothing else. FAILED, a circuit-
breaker rollback, the deployment disappearing or being replaced are failures; running out of
time is "unknown" (exit 3), never success.

Records live in AWS itself: every registered revision is tagged with the release it carries
(version, digest, git revision) and, once known, its outcome; `status` and "last good" read
those tags back. Each deploy also writes one set of CloudWatch metrics per service.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from shipyard.adapters.cloudwatch import CloudWatch
from shipyard.adapters.ecs import (
    EcrImages,
    EcsApi,
    family_of,
    parse_ecr_image,
    revision_of,
    short_arn,
)
from shipyard.adapters.http import HttpAnswer, get
from shipyard.config.targets import EcsServiceConfig, EcsTargetConfig
from shipyard.console import format_seconds
from shipyard.errors import (
    ConfigError,
    DeployFailed,
    LockHeld,
    RegistryError,
    RolledBack,
    StateUnknown,
    UsageError,
    VerifyFailed,
)
from shipyard.plan import Plan
from shipyard.targets.base import Artifact, DeployOptions, DeployResult, StatusReport
from shipyard.taskdef import Rendered, render

if TYPE_CHECKING:
    from shipyard.context import Context

TAG = "shipyard:"
WatchEnd = Literal["completed", "failed", "gone", "superseded", "timeout"]


@dataclass
class Switch:
    """One service's part in a release: what served before, what we registered, how it went."""

    service: EcsServiceConfig
    container: str
    previous: str | None  # task definition ARN serving before
    new: str  # task definition ARN registered for this release
    rendered: Rendered | None = None
    deployment_id: str | None = None
    switched: bool = False  # the service was told to run `new`
    end: WatchEnd | None = None
    reverted_by_aws: bool = False  # the circuit breaker / CodeDeploy already rolled it back


@dataclass(frozen=True)
class Watched:
    end: WatchEnd
    reason: str
    primary: str | None = None  # task definition ARN of the PRIMARY deployment at the end
    extra: dict[str, Any] = field(default_factory=dict)


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value) if value else None


def primary_deployment(service: Mapping[str, Any]) -> dict[str, Any] | None:
    for dep in service.get("deployments", []):
        if dep.get("status") == "PRIMARY":
            return dict(dep)
    return None


def serving_taskdef(service: Mapping[str, Any]) -> str | None:
    primary = primary_deployment(service)
    if primary and primary.get("taskDefinition"):
        return str(primary["taskDefinition"])
    value = service.get("taskDefinition")
    return str(value) if value else None


def _tag_safe(value: str) -> str:
    """ECS tag values allow letters, digits, spaces and _.:/=+-@ (max 256)."""
    return "".join(ch if ch.isalnum() or ch in " _.:/=+-@" else "-" for ch in value)[:256]


class EcsTarget:
    """Rolling update of every configured service, in order, with one image digest."""

    kind = "ecs"

    def __init__(
        self,
        ctx: Context,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        fetch: Callable[[str, float], HttpAnswer] = get,
    ) -> None:
        if not isinstance(ctx.config.target, EcsTargetConfig):
            raise ConfigError(f"target kind {ctx.config.target.kind!r} is not an ECS target")
        self.ctx = ctx
        self.cfg: EcsTargetConfig = ctx.config.target
        self.console = ctx.console
        self.clock = clock
        self.sleep = sleep
        self.fetch = fetch
        self.ecs = EcsApi(ctx.aws)
        self.cloudwatch = CloudWatch(ctx.aws)
        self.ecr = EcrImages(ctx.aws)
        self._account: str | None = None

    # ======================================================================= rendering
    def container_of(self, service: EcsServiceConfig) -> str:
        return service.container or self.ctx.config.taskdef.container

    def overlays(self, service: EcsServiceConfig) -> list[str]:
        tcfg = self.ctx.config.taskdef
        result = []
        env_overlay = tcfg.overlay or f"deploy/taskdef/{self.ctx.environment}.json"
        if tcfg.overlay or (self.ctx.root / env_overlay).is_file():
            result.append(env_overlay)
        if service.taskdef_overlay:
            result.append(service.taskdef_overlay)
        return result

    def account_id(self, image: str | None = None) -> str:
        if self._account is None:
            registry_id = parse_ecr_image(image)[0] if image else None
            self._account = (
                self.ctx.config.aws.account_id or registry_id or self.ctx.aws.account_id()
            )
        return self._account

    def render(self, service: EcsServiceConfig, image: str | None, version: str) -> Rendered:
        """base + environment overlay (+ service overlay) + the image, placeholders filled."""
        return render(
            self.ctx.root,
            base=self.ctx.config.taskdef.base,
            overlays=self.overlays(service),
            container=self.container_of(service),
            image=image,
            variables={
                "environment": self.ctx.environment,
                "region": self.ctx.aws.region,
                "account_id": self.account_id(image),
                "version": version,
                "service": service.name,
            },
        )

    # ======================================================================= the protocol
    def deploy(self, artifact: Artifact, opts: DeployOptions) -> DeployResult:
        if opts.dry_run:
            return self._result(artifact, "planned", plan=self.plan(artifact, opts))
        with self._locked(opts, f"deploy {artifact.version}"):
            return self._deploy(artifact, opts)

    def rollback(self, to: str | None, opts: DeployOptions) -> DeployResult:
        if opts.dry_run:
            return self._rollback(to, opts, dry_run=True)
        with self._locked(opts, f"rollback to {to or 'last good release'}"):
            return self._rollback(to, opts, dry_run=False)

    def status(self) -> StatusReport:
        names = [s.name for s in self.cfg.services]
        services = self.ecs.describe_services(self.cfg.cluster, names)
        rows: list[dict[str, Any]] = []
        family = None
        for scfg in self.cfg.services:
            svc = services[scfg.name]
            arn = serving_taskdef(svc)
            tags = self.ecs.tags(arn) if arn else {}
            primary = primary_deployment(svc) or {}
            digest = tags.get(f"{TAG}digest")
            if arn and not digest:  # not deployed by shipyard: read the image itself
                doc, _ = self.ecs.describe_task_definition(arn)
                for c in doc.get("containerDefinitions", []):
                    if c.get("name") == self.container_of(scfg):
                        image = str(c.get("image", ""))
                        digest = image.split("@", 1)[1] if "@" in image else image
            family = family or (family_of(arn) if arn else None)
            rows.append(
                {
                    "service": scfg.name,
                    "version": tags.get(f"{TAG}version"),
                    "revision": short_arn(arn),
                    "digest": digest,
                    "git_revision": tags.get(f"{TAG}git-revision"),
                    "since": tags.get(f"{TAG}deployed-at") or _iso(primary.get("createdAt")),
                    "rollout": primary.get("rolloutState"),
                    "running": f"{svc.get('runningCount', 0)}/{svc.get('desiredCount', 0)}",
                    "deployments": len(svc.get("deployments", [])),
                }
            )
        first = rows[0]
        live = {
            **{
                k: first[k]
                for k in ("version", "revision", "digest", "since", "rollout", "running")
            },
            "services": rows,
        }
        history: list[dict[str, Any]] = []
        if family:
            for arn in self.ecs.list_revisions(family)[:5]:
                tags = self.ecs.tags(arn)
                history.append(
                    {
                        "revision": short_arn(arn),
                        "version": tags.get(f"{TAG}version"),
                        "digest": tags.get(f"{TAG}digest"),
                        "outcome": tags.get(f"{TAG}outcome"),
                        "deployed_at": tags.get(f"{TAG}deployed-at"),
                    }
                )
        return StatusReport(self.ctx.environment, self.ctx.config.verify.url, live, history)

    # ======================================================================= plan
    def plan(self, artifact: Artifact, opts: DeployOptions) -> Plan:
        p = Plan(f"deploy {artifact.version} to {self.ctx.environment} ({self.kind})")
        if not opts.lock_held:
            p.add("lock", f"DynamoDB {self.ctx.config.lock.table} item {self.ctx.environment}")
        p.add(
            "pre-flight",
            "no deployment in progress; alarms not in ALARM: "
            + (", ".join(self.cfg.alarms) or "(none configured)"),
        )
        if self.cfg.check_image:
            p.add("pre-flight", f"registry holds {artifact.digest}")
        for scfg in self.cfg.services:
            rendered = self.render(scfg, artifact.image, artifact.version)
            p.add(
                "register",
                f"{rendered.family}: {' + '.join(rendered.sources)}, "
                f"{self.container_of(scfg)} = {artifact.image}",
            )
            p.extend(self._plan_switch(scfg))
        if self.ctx.config.verify.url:
            p.add(
                "verify",
                f"{self.ctx.config.verify.url} "
                f"(warm-up {self.ctx.config.verify.warmup_seconds:g}s);"
                " on failure roll every service back",
            )
        p.add(
            "record",
            f"tag revisions with the outcome; CloudWatch {self.cfg.metrics_namespace} metrics;"
            f" keep {self.cfg.keep_revisions} revisions",
        )
        return p

    def _plan_switch(self, scfg: EcsServiceConfig) -> Plan:
        p = Plan("")
        breaker = " with circuit breaker (rollback)" if self.cfg.circuit_breaker else ""
        p.add("update-service", f"{self.cfg.cluster}/{scfg.name}{breaker}")
        p.add(
            "watch",
            f"the new deployment until COMPLETED and PRIMARY (timeout "
            f"{format_seconds(self.cfg.timeout_seconds)})",
        )
        return p

    # ======================================================================= deploy
    @contextmanager
    def _locked(self, opts: DeployOptions, message: str) -> Iterator[None]:
        if opts.lock_held:
            yield
            return
        from shipyard.locking import get_lock, held

        who = f"{opts.actor}: " if opts.actor else ""
        with held(get_lock(self.ctx), opts.message or f"{who}{message}", wait=opts.lock_wait):
            yield

    def _deploy(self, artifact: Artifact, opts: DeployOptions) -> DeployResult:
        started = self.clock()
        services = self.preflight(artifact, opts)
        switches: list[Switch] = []
        for scfg in self.cfg.services:
            svc = services[scfg.name]
            rendered = self.render(scfg, artifact.image, artifact.version)
            arn = self.ecs.register(rendered.document, self._release_tags(artifact, scfg))
            sw = Switch(scfg, self.container_of(scfg), serving_taskdef(svc), arn, rendered)
            switches.append(sw)
            self.console.progress(
                f"{scfg.name}: registered {short_arn(arn)} (was {short_arn(sw.previous)})"
            )
            first = self._start(sw, svc, artifact)
            if not opts.wait:
                continue
            watched = self._watch(sw, first, svc, self.clock() + self.cfg.timeout_seconds)
            sw.end = watched.end
            if watched.end == "completed":
                self.console.progress(f"{scfg.name}: {short_arn(arn)} COMPLETED and PRIMARY")
                continue
            self._fail(switches, watched, started)
        if not opts.wait:
            self.console.warn(
                "--no-wait: registered and updated; the rollout was not watched "
                f"(follow it with `inv status --env {self.ctx.environment}`)"
            )
            return self._result(
                artifact,
                "unknown",
                switches=switches,
                seconds=self.clock() - started,
                message="not watched (--no-wait)",
                waited=False,
            )
        self._verify_gate(artifact, switches, started)
        for sw in switches:
            self.ecs.tag(sw.new, {f"{TAG}outcome": "succeeded", f"{TAG}deployed-at": _now_iso()})
        self._prune(switches)
        seconds = self.clock() - started
        self._record(switches, seconds, success=True)
        return self._result(
            artifact, "succeeded", switches=switches, seconds=seconds, verified=True
        )

    def preflight(self, artifact: Artifact, opts: DeployOptions) -> dict[str, dict[str, Any]]:
        """Refuse before changing anything: a rollout already running (or wait for it with
        --lock-wait), an alarm in ALARM, an image digest the registry does not hold."""
        names = [s.name for s in self.cfg.services]
        deadline = self.clock() + max(opts.lock_wait, 0.0)
        while True:
            services = self.ecs.describe_services(self.cfg.cluster, names)
            busy = self._in_progress(services)
            if not busy:
                break
            if self.clock() >= deadline:
                raise LockHeld(
                    f"a deployment is already in progress: {busy}",
                    hint="wait for it to finish (or pass --lock-wait SECONDS), then deploy again",
                )
            self.console.progress(f"waiting: {busy}")
            self.sleep(min(self.cfg.poll_seconds, max(deadline - self.clock(), 0.01)))
        alarming = [
            a
            for a in self.cloudwatch.alarms(self.cfg.alarms)
            if a.state != "OK" and a.state != "INSUFFICIENT_DATA"
        ]
        if alarming:
            first = alarming[0]
            if first.state == "MISSING":
                raise ConfigError(
                    f"CloudWatch alarm {first.name!r} does not exist",
                    hint="fix target.alarms in the environment file",
                )
            raise DeployFailed(
                f"alarm {first.name} is in {first.state}: {first.reason}".rstrip(": "),
                hint="deploying now would hide the cause; fix it or wait until the alarm is OK",
            )
        if self.cfg.check_image:
            self._check_image(artifact)
        return services

    def _in_progress(self, services: Mapping[str, Mapping[str, Any]]) -> str:
        for name, svc in services.items():
            deps = svc.get("deployments", [])
            rolling = [d for d in deps if d.get("rolloutState") == "IN_PROGRESS"]
            if rolling or len(deps) > 1:
                dep = (rolling or deps)[0]
                return (
                    f"{name} deployment {dep.get('id')} "
                    f"{dep.get('rolloutState', dep.get('status'))} "
                    f"({short_arn(dep.get('taskDefinition'))})"
                )
        return ""

    def _check_image(self, artifact: Artifact) -> None:
        if not artifact.digest.startswith("sha256:"):
            raise UsageError(
                f"image {artifact.image} is not pinned by digest",
                hint="deploy what `inv push` reported (<repository>@sha256:...)",
            )
        registry_id, repository, _ = parse_ecr_image(artifact.image)
        if registry_id is None and self.ctx.config.registry.kind == "ecr":
            repository = self.ctx.config.image.repository
        if registry_id is None and self.ctx.config.registry.kind != "ecr":
            self.console.progress(f"image check: {artifact.image} is not in ECR; skipped")
            return
        if not self.ecr.holds(repository, artifact.digest, registry_id=registry_id):
            raise RegistryError(
                f"ECR repository {repository} has no image {artifact.digest}",
                hint="push it first (inv push), or check the digest and the AWS account/region",
            )

    def _release_tags(self, artifact: Artifact, scfg: EcsServiceConfig) -> dict[str, str]:
        return {
            f"{TAG}version": _tag_safe(artifact.version),
            f"{TAG}digest": _tag_safe(artifact.digest),
            f"{TAG}git-revision": _tag_safe(artifact.revision or "-"),
            f"{TAG}environment": _tag_safe(self.ctx.environment),
            f"{TAG}service": _tag_safe(scfg.name),
            f"{TAG}outcome": "pending",
        }

    # -- switching and watching (the blue/green target replaces these) --------------------
    def _start(
        self,
        sw: Switch,
        svc: Mapping[str, Any],
        artifact: Artifact | None,  # noqa: ARG002
    ) -> dict[str, Any]:
        """Point the service at sw.new; returns the first observation of the rollout."""
        updated = self.ecs.update_service(
            self.cfg.cluster,
            sw.service.name,
            sw.new,
            deployment_configuration=self._deployment_configuration(svc),
        )
        sw.switched = True
        for dep in updated.get("deployments", []):
            if dep.get("taskDefinition") == sw.new and dep.get("status") == "PRIMARY":
                sw.deployment_id = str(dep["id"])
        self.console.progress(
            f"{sw.service.name}: update_service -> deployment {sw.deployment_id or '?'}"
        )
        return updated

    def _deployment_configuration(self, svc: Mapping[str, Any]) -> dict[str, Any] | None:
        if not self.cfg.circuit_breaker:
            return None
        current = dict(svc.get("deploymentConfiguration") or {})
        breaker = current.get("deploymentCircuitBreaker") or {}
        if breaker.get("enable") and breaker.get("rollback"):
            return None  # already on: leave the service's configuration untouched
        current["deploymentCircuitBreaker"] = {"enable": True, "rollback": True}
        return current

    def _watch(
        self, sw: Switch, first: Mapping[str, Any], before: Mapping[str, Any], deadline: float
    ) -> Watched:
        """Follow sw's deployment by id until it ends; prints progress, new service events,
        stopped tasks with their reason and log tail."""
        name = sw.service.name
        known_ids = {d.get("id") for d in before.get("deployments", [])}
        seen_events = {e.get("id") for e in before.get("events", [])}
        shown_tasks: set[str] = set()
        failed_seen = 0
        last_line = ""
        svc: Mapping[str, Any] = first
        looked_again = False
        while True:
            self._show_events(name, svc, seen_events)
            deps = svc.get("deployments", [])
            if sw.deployment_id is None:  # adopt the deployment ECS started for our revision
                for d in deps:
                    if d.get("taskDefinition") == sw.new and d.get("id") not in known_ids:
                        sw.deployment_id = str(d["id"])
            dep = next(
                (d for d in deps if sw.deployment_id and d.get("id") == sw.deployment_id), None
            )
            primary = serving_taskdef(svc)
            if dep is None:
                if sw.deployment_id is None and not looked_again:
                    looked_again = True
                else:
                    what = (
                        f"deployment {sw.deployment_id} disappeared"
                        if sw.deployment_id
                        else f"ECS started no deployment for {short_arn(sw.new)}"
                    )
                    return Watched("gone", f"{what}; PRIMARY is now {short_arn(primary)}", primary)
            else:
                state = str(dep.get("rolloutState", "?"))
                failed = int(dep.get("failedTasks", 0))
                line = (
                    f"{name}: {state} running "
                    f"{dep.get('runningCount', 0)}/{dep.get('desiredCount', 0)}"
                    f" pending {dep.get('pendingCount', 0)} failed {failed}"
                )
                if line != last_line:
                    self.console.progress(line)
                    last_line = line
                if failed > failed_seen:
                    failed_seen = failed
                    self._show_stopped(sw, shown_tasks)
                if state == "COMPLETED" and dep.get("status") == "PRIMARY":
                    return Watched("completed", str(dep.get("rolloutStateReason", "")), primary)
                if state == "FAILED":
                    self._show_stopped(sw, shown_tasks)
                    reason = str(dep.get("rolloutStateReason") or "rollout FAILED")
                    return Watched(
                        "failed", f"deployment {sw.deployment_id} FAILED: {reason}", primary
                    )
                if dep.get("status") != "PRIMARY":
                    return Watched(
                        "superseded",
                        f"deployment {sw.deployment_id} is no longer PRIMARY "
                        f"({dep.get('status')}); PRIMARY is now {short_arn(primary)}",
                        primary,
                    )
            if self.clock() >= deadline:
                where = f"deployment {sw.deployment_id}" if sw.deployment_id else "the deployment"
                return Watched(
                    "timeout",
                    f"{where} still {dep.get('rolloutState') if dep else 'not seen'} "
                    f"after {format_seconds(self.cfg.timeout_seconds)}",
                    primary,
                )
            self.sleep(self.cfg.poll_seconds)
            svc = self.ecs.describe_service(self.cfg.cluster, name)

    def _show_events(self, name: str, svc: Mapping[str, Any], seen: set[Any]) -> None:
        fresh = [e for e in svc.get("events", []) if e.get("id") not in seen]
        for event in reversed(fresh):  # ECS lists newest first
            seen.add(event.get("id"))
            self.console.progress(f"{name} event: {event.get('message', '')}")

    def _show_stopped(self, sw: Switch, shown: set[str]) -> None:
        try:
            tasks = self.ecs.stopped_tasks(self.cfg.cluster, sw.service.name, sw.new)
        except Exception as exc:  # diagnostics must never hide the outcome itself
            self.console.warn(f"{sw.service.name}: could not list stopped tasks: {exc}")
            return
        for task in tasks[:3]:
            arn = str(task.get("taskArn", ""))
            if arn in shown:
                continue
            shown.add(arn)
            task_id = arn.rsplit("/", 1)[-1]
            containers = "; ".join(
                f"{c.get('name')} exit {c.get('exitCode', '-')}"
                + (f" {c['reason']}" if c.get("reason") else "")
                for c in task.get("containers", [])
            )
            self.console.warn(
                f"{sw.service.name}: task {task_id} stopped: "
                f"{task.get('stoppedReason', '?')}" + (f" ({containers})" if containers else "")
            )
            for line in self._log_tail(sw, task_id):
                self.console.line(f"    | {line}")

    def _log_tail(self, sw: Switch, task_id: str) -> list[str]:
        if sw.rendered is None or self.cfg.log_lines <= 0:
            return []
        try:
            container = sw.rendered.container(sw.container)
        except ConfigError:
            return []
        log = container.get("logConfiguration") or {}
        options = log.get("options") or {}
        if log.get("logDriver") != "awslogs" or "awslogs-group" not in options:
            return []
        prefix = options.get("awslogs-stream-prefix", "")
        stream = f"{prefix}/{sw.container}/{task_id}" if prefix else task_id
        try:
            return self.cloudwatch.tail(options["awslogs-group"], stream, self.cfg.log_lines)
        except Exception as exc:
            return [f"(log tail unavailable: {exc})"]

    def _revert(self, sw: Switch, reason: str) -> str:
        """Put sw's service back on its previous revision and wait for it; returns a line."""
        if sw.previous is None:
            return f"{sw.service.name}: no previous revision to return to"
        svc = self.ecs.describe_service(self.cfg.cluster, sw.service.name)
        back = Switch(sw.service, sw.container, sw.new, sw.previous, sw.rendered)
        first = self._start(back, svc, None)
        watched = self._watch(back, first, svc, self.clock() + self.cfg.timeout_seconds)
        if watched.end != "completed":
            raise DeployFailed(
                f"{sw.service.name}: {reason}, and the rollback to {short_arn(sw.previous)} "
                "did not "
                f"complete either: {watched.reason}",
                hint="look at the service now: aws ecs describe-services "
                f"--cluster {self.cfg.cluster} "
                f"--services {sw.service.name}",
            )
        return f"{sw.service.name}: back on {short_arn(sw.previous)}"

    # -- failure paths -------------------------------------------------------------------
    def _fail(self, switches: list[Switch], watched: Watched, started: float) -> NoReturn:
        """The current service's rollout did not complete: roll back what was switched, record,
        raise. Never returns."""
        current = switches[-1]
        name = current.service.name
        if watched.end == "timeout":
            self._record(switches, self.clock() - started)
            raise StateUnknown(
                f"{name}: {watched.reason}: the state is unknown (shipyard stopped watching; "
                "ECS may still complete or roll back)",
                hint=f"check `inv status --env {self.ctx.environment}` or "
                "aws ecs describe-services "
                f"--cluster {self.cfg.cluster} --services {name}; then deploy again or "
                f"`inv rollback --env {self.ctx.environment}`",
            )
        self.console.error(f"{name}: {watched.reason}")
        current.reverted_by_aws = (
            watched.primary is not None and watched.primary == current.previous
        )
        notes = self._revert_all(switches, watched.reason)
        for sw in switches:
            self._safe_tag(sw.new, {f"{TAG}outcome": "failed"})
        rolled_back = bool(notes) or current.reverted_by_aws
        self._record(switches, self.clock() - started, failure=True, rollback=rolled_back)
        summary = (
            "; ".join(notes)
            or f"{name}: the circuit breaker returned it to {short_arn(current.previous)}"
        )
        if rolled_back:
            raise RolledBack(
                f"{name}: {watched.reason}. Rolled back: {summary}",
                hint="the previous release is serving; see the task reasons above",
            )
        raise DeployFailed(
            f"{name}: {watched.reason}", hint=f"check `inv status --env {self.ctx.environment}`"
        )

    def _revert_all(self, switches: list[Switch], reason: str) -> list[str]:
        notes: list[str] = []
        for sw in reversed(switches):
            if not sw.switched or sw.reverted_by_aws:
                if sw.reverted_by_aws:
                    notes.append(
                        f"{sw.service.name}: ECS rolled it back to {short_arn(sw.previous)}"
                    )
                continue
            primary = serving_taskdef(self.ecs.describe_service(self.cfg.cluster, sw.service.name))
            if primary == sw.previous:
                notes.append(f"{sw.service.name}: already on {short_arn(sw.previous)}")
                continue
            self.console.progress(f"{sw.service.name}: rolling back to {short_arn(sw.previous)}")
            notes.append(self._revert(sw, reason))
        return notes

    def _verify_gate(self, artifact: Artifact, switches: list[Switch], started: float) -> None:
        from shipyard.operations import verify

        url = self.ctx.config.verify.url
        if not url:
            self.console.warn("verify.url is not set: the release is not checked over HTTP")
            return
        result = verify.run(
            verify.VerifyOptions(url, version=artifact.version),
            self.ctx.config.verify,
            console=self.console,
            fetch=self.fetch,
            clock=self.clock,
            sleep=self.sleep,
        )
        verify.show(result, self.console)
        if result.ok:
            return
        bad = next(c for c in result.checks if not c.ok)
        reason = f"verify failed: {bad.url}: {bad.detail}"
        self.console.error(reason)
        notes = self._revert_all(switches, reason)
        for sw in switches:
            self._safe_tag(sw.new, {f"{TAG}outcome": "rolled_back"})
        self._record(switches, self.clock() - started, failure=True, rollback=True)
        raise RolledBack(
            f"{reason}. Rolled back: {'; '.join(notes)}",
            hint="the previous release is serving again",
        )

    # -- records -------------------------------------------------------------------------
    def _safe_tag(self, arn: str, tags: Mapping[str, str]) -> None:
        try:
            self.ecs.tag(arn, tags)
        except Exception as exc:  # a record that cannot be written must not mask the outcome
            self.console.warn(f"could not tag {short_arn(arn)}: {exc}")

    def _record(
        self,
        switches: list[Switch],
        seconds: float,
        *,
        success: bool = False,
        failure: bool = False,
        rollback: bool = False,
    ) -> None:
        for sw in switches or []:
            try:
                self.cloudwatch.record_deploy(
                    self.cfg.metrics_namespace,
                    environment=self.ctx.environment,
                    service=sw.service.name,
                    seconds=seconds,
                    success=success,
                    failure=failure,
                    rollback=rollback,
                )
            except Exception as exc:
                self.console.warn(f"could not record CloudWatch metrics: {exc}")

    def _prune(self, switches: list[Switch]) -> None:
        """Keep the newest `keep_revisions` of each family; never deregister what serves, what
        served before, or the last good revision (the rollback target)."""
        for family in dict.fromkeys(family_of(sw.new) for sw in switches):
            newest = max(revision_of(sw.new) for sw in switches if family_of(sw.new) == family)
            if newest <= self.cfg.keep_revisions:
                continue  # a family with this few revisions ever cannot hold too many
            arns = self.ecs.list_revisions(family)
            if len(arns) <= self.cfg.keep_revisions:
                continue
            protect = {sw.new for sw in switches} | {sw.previous for sw in switches if sw.previous}
            for arn in arns:
                if arn in protect:
                    continue
                if self.ecs.tags(arn).get(f"{TAG}outcome") == "succeeded":
                    protect.add(arn)  # the newest earlier good one: `inv rollback` returns here
                    break
            for arn in arns[self.cfg.keep_revisions :]:
                if arn not in protect:
                    self.ecs.deregister(arn)
                    self.console.progress(
                        f"deregistered {short_arn(arn)} (keeping {self.cfg.keep_revisions})"
                    )

    def _result(
        self,
        artifact: Artifact,
        outcome: Any,
        *,
        switches: list[Switch] | None = None,
        seconds: float = 0.0,
        plan: Plan | None = None,
        message: str = "",
        **details: Any,
    ) -> DeployResult:
        switches = switches or []
        return DeployResult(
            environment=self.ctx.environment,
            version=artifact.version,
            digest=artifact.digest,
            outcome=outcome,
            release_id=",".join(short_arn(sw.new) for sw in switches),
            url=self.ctx.config.verify.url,
            seconds=seconds,
            details={
                "target": self.kind,
                "task_definition_arn": ",".join(sw.new for sw in switches),
                "deployment_id": ",".join(sw.deployment_id or "" for sw in switches),
                "cluster": self.cfg.cluster,
                "services": {
                    sw.service.name: {
                        "task_definition": sw.new,
                        "previous": sw.previous,
                        "deployment": sw.deployment_id,
                    }
                    for sw in switches
                },
                **details,
            },
            plan=plan,
            message=message,
        )

    # ======================================================================= rollback
    def resolve(
        self, service: EcsServiceConfig, current: str, to: str | None
    ) -> tuple[str, dict[str, str]]:
        """The revision to return to: the newest earlier revision recorded as succeeded (no
        argument), a revision (12, family:12 or an ARN), or a version carried by a revision."""
        family = family_of(current)
        if to and (to.isdigit() or to.startswith("arn:") or (":" in to and not to[0].isdigit())):
            ref = f"{family}:{to}" if to.isdigit() else to
            doc, tags = self.ecs.describe_task_definition(ref)
            if doc.get("status") == "INACTIVE":
                raise UsageError(
                    f"{short_arn(doc.get('taskDefinitionArn'))} is deregistered (INACTIVE)",
                    hint="ECS cannot return a service to an INACTIVE revision",
                )
            return str(doc["taskDefinitionArn"]), tags
        seen_versions: list[str] = []
        for arn in self.ecs.list_revisions(family):
            if arn == current:
                continue
            tags = self.ecs.tags(arn)
            outcome = tags.get(f"{TAG}outcome")
            if to is None:
                if revision_of(arn) < revision_of(current) and outcome == "succeeded":
                    return arn, tags
                continue
            seen_versions.append(tags.get(f"{TAG}version", "?"))
            if tags.get(f"{TAG}version") == to and outcome not in ("failed", "pending"):
                return arn, tags
        if to is None:
            raise UsageError(
                f"{service.name}: no earlier revision of {family} is recorded as a good release",
                hint="name one: inv rollback --env ENV --to VERSION|REVISION",
            )
        known = ", ".join(dict.fromkeys(v for v in seen_versions if v != "?")) or "none recorded"
        raise UsageError(
            f"{service.name}: no good revision of {family} carries version {to!r}",
            hint=f"versions found: {known}; or give a revision number",
        )

    def _rollback(self, to: str | None, opts: DeployOptions, *, dry_run: bool) -> DeployResult:
        started = self.clock()
        names = [s.name for s in self.cfg.services]
        services = self.ecs.describe_services(self.cfg.cluster, names)
        targets: list[tuple[EcsServiceConfig, str, str, dict[str, str]]] = []
        for scfg in self.cfg.services:
            current = serving_taskdef(services[scfg.name])
            if current is None:
                raise DeployFailed(f"{scfg.name} runs no task definition yet: nothing to roll back")
            arn, tags = self.resolve(scfg, current, to)
            targets.append((scfg, current, arn, tags))
        version = targets[0][3].get(f"{TAG}version", short_arn(targets[0][2]))
        digest = targets[0][3].get(f"{TAG}digest", "")
        artifact = Artifact(version, "", digest, targets[0][3].get(f"{TAG}git-revision", ""))
        if dry_run:
            p = Plan(f"rollback {self.ctx.environment} to {version}")
            for scfg, current, arn, _ in targets:
                p.add("rollback", f"{scfg.name}: {short_arn(current)} -> {short_arn(arn)}")
                p.extend(self._plan_switch(scfg))
            if self.ctx.config.verify.url:
                p.add("verify", self.ctx.config.verify.url)
            return self._result(artifact, "planned", plan=p)
        switches: list[Switch] = []
        for scfg, current, arn, _ in targets:
            if current == arn:
                self.console.progress(f"{scfg.name}: already on {short_arn(arn)}")
                continue
            sw = Switch(scfg, self.container_of(scfg), current, arn)
            switches.append(sw)
            self.console.progress(
                f"{scfg.name}: rolling back {short_arn(current)} -> {short_arn(arn)}"
            )
            first = self._start(sw, services[scfg.name], None)
            if not opts.wait:
                continue
            watched = self._watch(
                sw, first, services[scfg.name], self.clock() + self.cfg.timeout_seconds
            )
            if watched.end == "timeout":
                raise StateUnknown(
                    f"{scfg.name}: rollback {watched.reason}: the state is unknown",
                    hint=f"check `inv status --env {self.ctx.environment}`",
                )
            if watched.end != "completed":
                raise DeployFailed(
                    f"{scfg.name}: the rollback to {short_arn(arn)} failed: {watched.reason}",
                    hint=f"check `inv status --env {self.ctx.environment}`",
                )
        if opts.wait and switches and self.ctx.config.verify.url:
            from shipyard.operations import verify

            result = verify.run(
                verify.VerifyOptions(self.ctx.config.verify.url, version=version),
                self.ctx.config.verify,
                console=self.console,
                fetch=self.fetch,
                clock=self.clock,
                sleep=self.sleep,
            )
            verify.show(result, self.console, title="verify after rollback")
            if not result.ok:
                bad = next(c for c in result.checks if not c.ok)
                raise VerifyFailed(
                    f"rolled back to {version}, but verify fails: {bad.url}: {bad.detail}"
                )
        for sw in switches:
            if sw.previous:  # so a later `inv rollback` does not return to it
                self._safe_tag(sw.previous, {f"{TAG}outcome": "rolled_back"})
            self._safe_tag(sw.new, {f"{TAG}deployed-at": _now_iso()})
        self._record(switches, self.clock() - started, rollback=True)
        outcome = "succeeded" if opts.wait else "unknown"
        return self._result(
            artifact,
            outcome,
            switches=switches,
            seconds=self.clock() - started,
            message=f"rolled back to {version}" if switches else f"already on {version}",
            kind="rollback",
        )

    # ======================================================================= diff
    def diff(self, image: str, version: str) -> list[tuple[str, str, list[tuple[str, Any, Any]]]]:
        """(service, live revision, changes) of each service: live task definition against
        what a deploy of `image` would register."""
        from shipyard.taskdef import diff as field_diff

        names = [s.name for s in self.cfg.services]
        services = self.ecs.describe_services(self.cfg.cluster, names)
        result = []
        for scfg in self.cfg.services:
            desired = self.render(scfg, image, version).document
            arn = serving_taskdef(services[scfg.name])
            live: dict[str, Any] = {}
            if arn:
                live, _ = self.ecs.describe_task_definition(arn)
            result.append(
                (scfg.name, short_arn(arn), field_diff(without_defaults(live, desired), desired))
            )
        return result


# What ECS fills in when a registered definition leaves it out; not a change worth showing.
CONTAINER_DEFAULTS: dict[str, Any] = {
    "cpu": 0,
    "essential": True,
    "privileged": False,
    "readonlyRootFilesystem": False,
    "interactive": False,
    "pseudoTerminal": False,
    "disableNetworking": False,
}


def without_defaults(live: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """`live` minus the values ECS filled in by default where `desired` says nothing."""
    result = dict(live)
    wanted = {c.get("name"): c for c in desired.get("containerDefinitions", [])}
    containers = []
    for container in live.get("containerDefinitions", []):
        want = wanted.get(container.get("name"), {})
        clean = {
            k: v
            for k, v in container.items()
            if k in want or k not in CONTAINER_DEFAULTS or CONTAINER_DEFAULTS[k] != v
        }
        want_ports = want.get("portMappings", [])
        ports = []
        for i, mapping in enumerate(container.get("portMappings", [])):
            asked = want_ports[i] if i < len(want_ports) else {}
            m = dict(mapping)
            if "hostPort" not in asked and m.get("hostPort") == m.get("containerPort"):
                m.pop("hostPort", None)
            if "protocol" not in asked and m.get("protocol") == "tcp":
                m.pop("protocol", None)
            ports.append(m)
        if "portMappings" in container:
            clean["portMappings"] = ports
        containers.append(clean)
    if "containerDefinitions" in live:
        result["containerDefinitions"] = containers
    return result
