"""ECS blue/green through CodeDeploy (production), as the rollout engine's phases.

Everything but the switch is the rolling target's: rendering, pre-flight, records, rollback
choice. What serves is the service's PRIMARY task set (the one production traffic reaches);
a second task set means a CodeDeploy deployment is open (its id is the task set's externalId).

    shift     create_deployment from deploy/codedeploy/appspec.json plus this revision, with
              automatic rollback on failure and on alarm
    wait      get_deployment and the lifecycle events until traffic moved (Baking, or
              AfterAllowTraffic succeeded)
    bake      the deployment stays open and healthy, checks at each poll
    finalize  let the deployment run to Succeeded (through the termination wait)
    undo      stop_deployment with auto-rollback and watch the rollback deployment; one that
              already ended is redeployed to the previous revision and watched
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shipyard.adapters.codedeploy import ACTIVE_STATUSES, CodeDeploy, appspec, hook_order
from shipyard.adapters.ecs import short_arn
from shipyard.config.targets import ECS_HOOKS, EcsBlueGreenTargetConfig, EcsServiceConfig
from shipyard.console import format_seconds
from shipyard.errors import ConfigError, DeployFailed, LockHeld, VerifyFailed
from shipyard.plan import Plan
from shipyard.rollout.model import Attempt, Serving
from shipyard.targets.ecs import EcsTarget
from shipyard.targets.ecs_records import UNSETTLED
from shipyard.targets.ecs_watch import Move, Watched
from shipyard.taskdef import substitute

if TYPE_CHECKING:
    from shipyard.context import Context

FINAL = ("Succeeded", "Failed", "Stopped")


class EcsBlueGreenTarget(EcsTarget):
    kind = "ecs-bluegreen"

    def __init__(
        self,
        ctx: Context,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(ctx, clock=clock, sleep=sleep)
        if not isinstance(ctx.config.target, EcsBlueGreenTargetConfig):
            raise ConfigError("the ecs-bluegreen target needs [target.codedeploy]")
        self.bg: EcsBlueGreenTargetConfig = ctx.config.target
        self.codedeploy = CodeDeploy(ctx.aws)

    def group_of(self, service: EcsServiceConfig) -> str:
        return service.deployment_group or self.bg.codedeploy.deployment_group

    # -- AppSpec ---------------------------------------------------------------------------
    def _template(self, service: EcsServiceConfig) -> dict[str, Any]:
        cd = self.bg.codedeploy
        path = self.ctx.path(cd.appspec)
        if not path.is_file():
            return {}
        try:
            template = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{cd.appspec}: not valid JSON: {exc.msg} at line {exc.lineno}"
            ) from None
        variables = {
            "environment": self.ctx.environment,
            "service": service.name,
            "region": self.ctx.aws.region,
            "project": self.ctx.config.project.name,
        }
        result: dict[str, Any] = substitute(template, variables, where=cd.appspec)
        return result

    def appspec(self, service: EcsServiceConfig, taskdef_arn: str) -> dict[str, Any]:
        cd = self.bg.codedeploy
        template = self._template(service)
        if template.get("Hooks"):
            # a hook names a Lambda function that must exist; only config says which, so that
            # inv doctor and inv setup-cicd can check it (a template's hooks once failed every
            # default deploy by naming functions nothing had created)
            named = ", ".join(
                f'{k} = "{v}"'
                for e in template["Hooks"]
                if isinstance(e, dict)
                for k, v in e.items()
            )
            raise ConfigError(
                f"{cd.appspec}: Hooks are not read from the AppSpec template",
                hint=f"remove them there; to keep them set [target.codedeploy] hooks = "
                f"{{ {named} }} in deploy/environments/{self.environment}.toml",
            )
        hooks = dict(cd.hooks or {})
        props: dict[str, Any] = {}
        for resource in template.get("Resources", []):
            props = dict(resource.get("TargetService", {}).get("Properties", {}))
        spec = appspec(
            taskdef_arn,
            self.container_of(service),
            service.container_port,
            hook_order(hooks, ECS_HOOKS),
            platform_version=props.get("PlatformVersion"),
        )
        target_props = spec["Resources"][0]["TargetService"]["Properties"]
        for key in ("NetworkConfiguration", "CapacityProviderStrategy"):
            if key in props:
                target_props[key] = props[key]
        return spec

    def plan_switch(self, scfg: EcsServiceConfig) -> Plan:
        cd = self.bg.codedeploy
        p = Plan("")
        spec = self.appspec(scfg, "<new revision>")
        hooks = ", ".join(next(iter(h)) for h in spec.get("Hooks", []))
        p.add(
            "codedeploy",
            f"{cd.application}/{self.group_of(scfg)} {cd.deployment_config}, "
            f"{self.container_of(scfg)}:{scfg.container_port}, auto-rollback on failure and alarm"
            + (f", hooks {hooks}" if hooks else ""),
        )
        timeout = format_seconds(self.cfg.timeout_seconds)
        p.add("watch", f"get_deployment and lifecycle events (timeout {timeout})")
        p.add("undo", "on failure or interrupt: stop_deployment with rollback, watched")
        return p

    # -- the phases ------------------------------------------------------------------------
    def refuse_busy(self, before: Serving) -> None:
        super().refuse_busy(before)
        cd = self.bg.codedeploy
        for scfg in self.cfg.services:
            active = self.codedeploy.active(cd.application, self.group_of(scfg))
            if active:
                raise LockHeld(
                    f"a deployment is already in progress: CodeDeploy deployment {active[0]} "
                    f"of {cd.application}/{self.group_of(scfg)}",
                    hint=f"wait for it (inv wait --env {self.environment} --deployment "
                    f"{active[0]}), then deploy again",
                )

    def start_move(self, m: Move, attempt: Attempt) -> None:
        self._create(m, attempt.artifact.version)

    def _create(self, m: Move, what: str) -> None:
        cd = self.bg.codedeploy
        spec = self.appspec(m.service, m.new)
        m.moved = True  # before the call: a lost answer may still have started it
        m.deployment = self.codedeploy.create(
            application=cd.application,
            group=self.group_of(m.service),
            spec=spec,
            config_name=cd.deployment_config,
            description=f"shipyard {self.environment}: {what} {short_arn(m.new)}",
        )
        short = cd.deployment_config.removeprefix("CodeDeployDefault.")
        self.console.progress(f"{m.service.name}: CodeDeploy deployment {m.deployment} ({short})")

    def watch(self, m: Move, *, moved: bool, deadline: float) -> Watched | None:
        """Follow m's CodeDeploy deployment until traffic moved (`moved`) or it Succeeded;
        None then, else how it ended."""
        dep_id = str(m.deployment)
        name = m.service.name
        target_id: str | None = None
        shown: dict[str, str] = {}
        last = ""
        while True:
            info = self.codedeploy.get(dep_id)
            status = str(info.get("status", "?"))
            if status != last:
                self.console.progress(f"{name}: deployment {dep_id} {status}")
                last = status
            target_id = self._show_lifecycle(name, dep_id, target_id, shown)
            if status == "Succeeded":
                return None
            if status in FINAL:
                return Watched("failed", name, _why(dep_id, info), None, info)
            if moved and (status == "Baking" or shown.get("AfterAllowTraffic") == "Succeeded"):
                self.console.progress(f"{name}: traffic on {short_arn(m.new)} ({status})")
                return None
            if status == "Ready":
                self.console.progress(f"{name}: waiting for the traffic reroute to be approved")
            if self.clock() >= deadline:
                after = format_seconds(self.cfg.timeout_seconds)
                return Watched("timeout", name, f"deployment {dep_id} still {status} after {after}")
            self.sleep(self.cfg.poll_seconds)

    def _show_lifecycle(
        self, name: str, dep_id: str, target_id: str | None, shown: dict[str, str]
    ) -> str | None:
        try:
            target_id, events = self.codedeploy.lifecycle(dep_id, target_id)
        except Exception as exc:  # progress display only; the status decides
            self.console.warn(f"{name}: lifecycle events unavailable: {exc}")
            return target_id
        for event in events:
            if shown.get(event.name) != event.status:
                shown[event.name] = event.status
                self.console.progress(f"{name}: {event.name} {event.status}")
        return target_id

    def wait_shifted(self, attempt: Attempt) -> None:
        for m in self.moves(attempt):
            if m.moved:
                watched = self.watch(m, moved=True, deadline=self.deadline())
                if watched is not None:
                    self.fail(watched)

    def bake(self, attempt: Attempt, until: float, probe: Callable[[], str | None]) -> None:
        """Until `until`: each deployment stays open or Succeeded; the checks pass each poll."""
        moves = [m for m in self.moves(attempt) if m.moved]
        if not moves or self.clock() >= until:
            return
        while True:
            for m in moves:
                info = self.codedeploy.get(str(m.deployment))
                if info.get("status") in ("Failed", "Stopped"):
                    why = _why(m.deployment, info)
                    raise DeployFailed(f"{m.service.name}: while baking: {why}")
            reason = probe()
            if reason:
                raise VerifyFailed(f"while baking: {reason}")
            if self.clock() >= until:
                return
            self.sleep(min(self.cfg.poll_seconds, until - self.clock()))

    def finalize(self, attempt: Attempt) -> None:
        """Let each deployment run to Succeeded (its termination wait included)."""
        for m in self.moves(attempt):
            if not m.moved:
                continue
            watched = self.watch(m, moved=False, deadline=self.deadline())
            if watched is not None and watched.end == "timeout":
                self.console.warn(f"{watched.reason}: CodeDeploy finishes it on its own")
            elif watched is not None:
                self.fail(watched)
        super().finalize(attempt)

    def undo(self, attempt: Attempt) -> str:
        """From observation: an open deployment is stopped with rollback and the rollback
        watched; CodeDeploy's own rollback is watched to its end; a deployment that already
        ended with ours serving is followed by a deployment of the previous revision."""
        notes = [self._undo_codedeploy(m) for m in reversed(self.moves(attempt)) if m.moved]
        return "; ".join(notes)

    def _undo_codedeploy(self, m: Move) -> str:
        name = m.service.name
        dep_id = str(m.deployment)
        info = self.codedeploy.get(dep_id)
        if info.get("status") in ACTIVE_STATUSES:
            status, _ = self.codedeploy.stop(dep_id, rollback=True)
            self.console.progress(f"{name}: stopped {dep_id} with rollback ({status})")
            info = self._rollback_started(dep_id)
        rollback = (info.get("rollbackInfo") or {}).get("rollbackDeploymentId")
        if rollback:
            back = Move(m.service, m.container, m.new, str(m.previous), deployment=str(rollback))
            back.moved = True
            watched = self.watch(back, moved=False, deadline=self.deadline())
            if watched is not None:
                self.fail(watched, "the CodeDeploy rollback: ")
            return f"{name}: CodeDeploy rolled {dep_id} back ({rollback} Succeeded)"
        return self._redeploy(m)

    def _rollback_started(self, dep_id: str) -> dict[str, Any]:
        """get_deployment until the rollback deployment is named or the deployment ended."""
        deadline = self.deadline()
        while True:
            info = self.codedeploy.get(dep_id)
            if (info.get("rollbackInfo") or {}).get("rollbackDeploymentId"):
                return info
            if info.get("status") in FINAL or self.clock() >= deadline:
                return info
            self.sleep(self.cfg.poll_seconds)

    def _redeploy(self, m: Move) -> str:
        name = m.service.name
        now = self.view(name, self.ecs.describe_service(self.cfg.cluster, name)).serving
        if m.previous is None:
            return f"{name}: no previous revision to return to"
        if now == m.previous:
            return f"{name}: {short_arn(m.previous)} serves: nothing to undo"
        if now != m.new:
            return f"{name}: {short_arn(now)} serves, not ours: left alone"
        back = Move(m.service, m.container, m.new, m.previous, m.rendered)
        self._create(back, "undo")
        watched = self.watch(back, moved=False, deadline=self.deadline())
        if watched is not None:
            self.fail(watched, f"redeploying {short_arn(m.previous)}: ")
        return f"{name}: back on {short_arn(m.previous)} (deployment {back.deployment})"

    def reconcile(self, observed: Serving, *, follow: str | None = None) -> list[str]:
        if follow and follow.startswith("d-"):
            return self._follow(follow)
        return super().reconcile(observed, follow=follow)

    def _follow(self, dep_id: str) -> list[str]:
        """inv wait --deployment d-...: follow a CodeDeploy deployment to its end."""
        info = self.codedeploy.get(dep_id)
        arn = _taskdef_of(info)
        group = info.get("deploymentGroupName")
        services = self.cfg.services
        scfg = next((s for s in services if self.group_of(s) == group), services[0])
        m = Move(scfg, self.container_of(scfg), None, arn, deployment=dep_id, moved=True)
        watched = self.watch(m, moved=False, deadline=self.deadline())
        settle = arn and self.records.outcome(arn) in UNSETTLED
        if watched is None:
            if settle:
                self.records.settle(arn, "succeeded", live=True)
            return [f"deployment {dep_id} of {scfg.name} Succeeded: {short_arn(arn)} serves"]
        if watched.end == "timeout":
            self.fail(watched)
        if settle:
            self.records.settle(arn, "failed")
        self.fail(watched, f"{self.observe().describe()} serves; ")
        return []  # not reached: fail raises


def _why(dep_id: str | None, info: Mapping[str, Any]) -> str:
    status = str(info.get("status", "?"))
    error = info.get("errorInformation") or {}
    why = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ") or status
    rollback = (info.get("rollbackInfo") or {}).get("rollbackDeploymentId")
    extra = f" (CodeDeploy rolls back in {rollback})" if rollback else ""
    return f"deployment {dep_id} {status}: {why}{extra}"


def _taskdef_of(info: Mapping[str, Any]) -> str:
    """The task definition a CodeDeploy deployment's AppSpec puts live ('' if unreadable)."""
    content = ((info.get("revision") or {}).get("appSpecContent") or {}).get("content") or "{}"
    try:
        spec = json.loads(content)
    except json.JSONDecodeError:
        return ""
    resources = spec.get("Resources") or [{}]
    props = resources[0].get("TargetService", {}).get("Properties", {})
    return str(props.get("TaskDefinition", ""))
