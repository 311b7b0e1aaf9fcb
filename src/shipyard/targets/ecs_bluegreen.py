"""ECS blue/green through CodeDeploy (production).

Everything but the switch is the rolling target's: rendering, pre-flight, records, verify gate,
rollback to the last good revision. The switch is a CodeDeploy deployment whose AppSpec is built
from deploy/codedeploy/appspec.json (hooks, platform version) plus this release's task
definition, container and port; it runs with the configured deployment config and automatic
rollback on failure and on alarm. We follow `get_deployment` and the ECS lifecycle events.

The verify gate runs once traffic has moved to the new task set. If the deployment is still
open then (a termination wait keeps it in Baking/InProgress), a failure stops it with rollback;
otherwise the previous revision is deployed again through CodeDeploy.
"""

# ruff: noqa: ARG002 - the overrides keep the rolling target's signatures

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shipyard.adapters.codedeploy import ACTIVE_STATUSES, CodeDeploy, appspec, hook_order
from shipyard.adapters.ecs import short_arn
from shipyard.adapters.http import HttpAnswer, get
from shipyard.config.targets import ECS_HOOKS, EcsBlueGreenTargetConfig, EcsServiceConfig
from shipyard.console import format_seconds
from shipyard.errors import ConfigError, DeployFailed
from shipyard.plan import Plan
from shipyard.targets.base import Artifact
from shipyard.targets.ecs import EcsTarget, Switch, Watched
from shipyard.taskdef import substitute

if TYPE_CHECKING:
    from shipyard.context import Context


class EcsBlueGreenTarget(EcsTarget):
    kind = "ecs-bluegreen"

    def __init__(
        self,
        ctx: Context,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        fetch: Callable[[str, float], HttpAnswer] = get,
    ) -> None:
        super().__init__(ctx, clock=clock, sleep=sleep, fetch=fetch)
        if not isinstance(ctx.config.target, EcsBlueGreenTargetConfig):
            raise ConfigError("the ecs-bluegreen target needs [target.codedeploy]")
        self.bg: EcsBlueGreenTargetConfig = ctx.config.target
        self.codedeploy = CodeDeploy(ctx.aws)

    def group_of(self, service: EcsServiceConfig) -> str:
        return service.deployment_group or self.bg.codedeploy.deployment_group

    # -- AppSpec -------------------------------------------------------------------------
    def appspec(self, service: EcsServiceConfig, taskdef_arn: str) -> dict[str, Any]:
        cd = self.bg.codedeploy
        template: dict[str, Any] = {}
        path = self.ctx.path(cd.appspec)
        if path.is_file():
            try:
                template = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{cd.appspec}: not valid JSON: {exc.msg} at line {exc.lineno}"
                ) from None
            template = substitute(
                template,
                {
                    "environment": self.ctx.environment,
                    "service": service.name,
                    "region": self.ctx.aws.region,
                    "project": self.ctx.config.project.name,
                },
                where=cd.appspec,
            )
        hooks: dict[str, str] = {}
        for entry in template.get("Hooks", []):
            hooks.update(entry)
        if cd.hooks is not None:
            hooks = dict(cd.hooks)
        wrong = [h for h in hooks if h not in ECS_HOOKS]
        if wrong:
            raise ConfigError(
                f"{cd.appspec}: {wrong[0]!r} is not an ECS lifecycle hook",
                hint=f"ECS blue/green hooks are {', '.join(ECS_HOOKS)} "
                "(ApplicationStart/Stop are EC2's)",
            )
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

    # -- switching -----------------------------------------------------------------------
    def _in_progress(self, services: Mapping[str, Mapping[str, Any]]) -> str:
        cd = self.bg.codedeploy
        for scfg in self.cfg.services:
            active = self.codedeploy.active(cd.application, self.group_of(scfg))
            if active:
                return (
                    f"CodeDeploy deployment {active[0]} of {cd.application}/{self.group_of(scfg)}"
                )
        return ""

    def _start(
        self,
        sw: Switch,
        svc: Mapping[str, Any],
        artifact: Artifact | None,
    ) -> dict[str, Any]:
        cd = self.bg.codedeploy
        spec = self.appspec(sw.service, sw.new)
        what = f"{artifact.version} " if artifact else ""
        sw.deployment_id = self.codedeploy.create(
            application=cd.application,
            group=self.group_of(sw.service),
            spec=spec,
            config_name=cd.deployment_config,
            description=f"shipyard {self.ctx.environment}: {what}{short_arn(sw.new)}",
        )
        sw.switched = True
        self.console.progress(
            f"{sw.service.name}: CodeDeploy deployment {sw.deployment_id} "
            f"({cd.deployment_config.removeprefix('CodeDeployDefault.')})"
        )
        return {"deploymentId": sw.deployment_id}

    def _watch(
        self,
        sw: Switch,
        first: Mapping[str, Any],
        before: Mapping[str, Any],
        deadline: float,
    ) -> Watched:
        assert sw.deployment_id is not None
        dep_id = sw.deployment_id
        name = sw.service.name
        target_id: str | None = None
        shown: dict[str, str] = {}
        last_status = ""
        while True:
            info = self.codedeploy.get(dep_id)
            status = str(info.get("status", "?"))
            if status != last_status:
                self.console.progress(f"{name}: deployment {dep_id} {status}")
                last_status = status
            try:
                target_id, events = self.codedeploy.lifecycle(dep_id, target_id)
            except Exception as exc:  # progress display only; the status decides
                self.console.warn(f"{name}: lifecycle events unavailable: {exc}")
                events = []
            for event in events:
                if shown.get(event.name) != event.status:
                    shown[event.name] = event.status
                    self.console.progress(f"{name}: {event.name} {event.status}")
            if status == "Succeeded":
                return Watched("completed", f"deployment {dep_id} Succeeded", sw.new)
            if status in ("Failed", "Stopped"):
                error = info.get("errorInformation") or {}
                why = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ") or status
                rollback = (info.get("rollbackInfo") or {}).get("rollbackDeploymentId")
                primary = sw.previous if rollback else None
                extra = f" (CodeDeploy rolls back in {rollback})" if rollback else ""
                return Watched(
                    "failed",
                    f"deployment {dep_id} {status}: {why}{extra}",
                    primary,
                    {"rollback_deployment": rollback},
                )
            traffic_moved = status == "Baking" or shown.get("AfterAllowTraffic") == "Succeeded"
            if traffic_moved:
                return Watched(
                    "completed",
                    f"deployment {dep_id}: traffic on {short_arn(sw.new)} ({status})",
                    sw.new,
                    {"open": True},
                )
            if status == "Ready":
                self.console.progress(f"{name}: waiting for the traffic reroute to be approved")
            if self.clock() >= deadline:
                return self._timed_out(sw)
            self.sleep(self.cfg.poll_seconds)

    def _timed_out(self, sw: Switch) -> Watched:
        assert sw.deployment_id is not None
        after = format_seconds(self.cfg.timeout_seconds)
        status, message = self.codedeploy.stop(sw.deployment_id, rollback=True)
        self.console.error(
            f"{sw.service.name}: deployment {sw.deployment_id} still running after {after}: "
            f"stopped with rollback ({status}{': ' + message if message else ''})"
        )
        if status == "Succeeded":
            return Watched(
                "failed",
                f"deployment {sw.deployment_id} timed out after {after} and was "
                "stopped with rollback",
                sw.previous,
            )
        return Watched(
            "timeout",
            f"deployment {sw.deployment_id} timed out after {after}; stop with "
            f"rollback requested ({status})",
            None,
        )

    def _revert(self, sw: Switch, reason: str) -> str:
        if sw.previous is None:
            return f"{sw.service.name}: no previous revision to return to"
        if sw.deployment_id:
            info = self.codedeploy.get(sw.deployment_id)
            if info.get("status") in ACTIVE_STATUSES:
                status, _ = self.codedeploy.stop(sw.deployment_id, rollback=True)
                rollback = (self.codedeploy.get(sw.deployment_id).get("rollbackInfo") or {}).get(
                    "rollbackDeploymentId"
                )
                if rollback:
                    back = Switch(
                        sw.service,
                        sw.container,
                        sw.new,
                        sw.previous,
                        sw.rendered,
                        deployment_id=str(rollback),
                        switched=True,
                    )
                    watched = self._watch(back, {}, {}, self.clock() + self.cfg.timeout_seconds)
                    if watched.end != "completed":
                        raise DeployFailed(
                            f"{sw.service.name}: {reason}; the CodeDeploy rollback "
                            f"{rollback} did not complete: {watched.reason}"
                        )
                return (
                    f"{sw.service.name}: deployment {sw.deployment_id} stopped with "
                    f"rollback ({status})"
                )
        back = Switch(sw.service, sw.container, sw.new, sw.previous, sw.rendered)
        first = self._start(back, {}, None)
        watched = self._watch(back, first, {}, self.clock() + self.cfg.timeout_seconds)
        if watched.end != "completed":
            raise DeployFailed(
                f"{sw.service.name}: {reason}; redeploying {short_arn(sw.previous)} "
                f"did not complete: {watched.reason}"
            )
        return (
            f"{sw.service.name}: back on {short_arn(sw.previous)} (deployment {back.deployment_id})"
        )

    def _revert_all(self, switches: list[Switch], reason: str) -> list[str]:
        notes: list[str] = []
        for sw in reversed(switches):
            if not sw.switched:
                continue
            if sw.reverted_by_aws:
                notes.append(
                    f"{sw.service.name}: CodeDeploy rolled it back to {short_arn(sw.previous)}"
                )
                continue
            self.console.progress(f"{sw.service.name}: rolling back to {short_arn(sw.previous)}")
            notes.append(self._revert(sw, reason))
        return notes

    def _plan_switch(self, scfg: EcsServiceConfig) -> Plan:
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
        p.add(
            "watch",
            f"get_deployment and lifecycle events "
            f"(timeout {format_seconds(self.cfg.timeout_seconds)}"
            ", then stop with rollback)",
        )
        return p
