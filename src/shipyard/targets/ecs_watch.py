"""Reading an ECS service and following a rolling deployment by its id.

What serves is read from the service's deployments: the PRIMARY one once its rollout is
COMPLETED; while it rolls out, the older deployment that COMPLETED still carries the traffic
(with the new tasks joining); a service whose rollouts are all unfinished cannot be told.

A deployment we started ends COMPLETED-and-PRIMARY (success), FAILED (the circuit breaker),
gone, superseded (another deployment of a revision not ours became PRIMARY: someone else's),
or still running at the deadline. Counts alone ("stable") decide nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any, Literal

from shipyard.adapters.cloudwatch import CloudWatch
from shipyard.adapters.ecs import EcsApi, short_arn
from shipyard.config.targets import EcsServiceConfig, EcsTargetConfig
from shipyard.console import Console, format_seconds
from shipyard.errors import ConfigError
from shipyard.records import record
from shipyard.taskdef import Rendered

End = Literal["completed", "failed", "gone", "superseded", "timeout"]


@record(frozen=False)
class Move:
    """One service's part in a rollout: from `previous` to `new`, by deployment `deployment`."""

    service: EcsServiceConfig
    container: str
    previous: str | None
    new: str
    rendered: Rendered | None = None
    deployment: str | None = None
    moved: bool = False  # the service was told to run `new`
    looked: int = 0
    seen_events: set[str] = field(default_factory=set)
    shown_tasks: set[str] = field(default_factory=set)
    failed_seen: int = 0
    last_line: str = ""


@record
class Watched:
    end: End
    service: str
    reason: str
    primary: str | None = None  # task definition of the PRIMARY deployment at the end
    other: dict[str, Any] = field(default_factory=dict)  # the deployment that replaced ours


@record
class View:
    """One service as observed."""

    name: str
    known: bool
    serving: str | None
    detail: str
    continuing: str = ""
    busy: str | None = None  # the id of a rollout under way
    target: str | None = None  # the task definition that rollout puts live


def primary_deployment(svc: Mapping[str, Any]) -> dict[str, Any] | None:
    for dep in svc.get("deployments", []):
        if dep.get("status") == "PRIMARY":
            return dict(dep)
    return None


def _done(dep: Mapping[str, Any]) -> bool:
    return str(dep.get("rolloutState", "COMPLETED")) == "COMPLETED"


def _counts(dep: Mapping[str, Any]) -> str:
    return f"{dep.get('runningCount', 0)}/{dep.get('desiredCount', 0)} running"


def rolling_view(name: str, svc: Mapping[str, Any]) -> View:
    deps = list(svc.get("deployments", []))
    primary = primary_deployment(svc)
    if primary is None:
        arn = svc.get("taskDefinition")
        return View(name, True, str(arn) if arn else None, f"{name}: {short_arn(arn)}")
    busy = [d for d in deps if d.get("rolloutState") == "IN_PROGRESS"]
    continuing = ""
    if busy:
        d = busy[0]
        continuing = (
            f"deployment {d.get('id')} of {name} continues ({short_arn(d.get('taskDefinition'))} "
            f"{d.get('rolloutState')}, {_counts(d)})"
        )
    shown = ", ".join(
        f"{d.get('status')} {short_arn(d.get('taskDefinition'))} {d.get('rolloutState', '-')} "
        f"{_counts(d)}"
        for d in deps
    )
    busy_id = str(busy[0].get("id")) if busy else None
    target = str(busy[0].get("taskDefinition")) if busy else None
    if _done(primary):
        serving = primary
    else:
        older = [d for d in deps if d is not primary and d.get("status") != "PRIMARY"]
        completed = [d for d in older if _done(d)]
        if completed:
            serving = max(completed, key=lambda d: str(d.get("createdAt") or ""))
        elif len(deps) == 1:
            serving = primary  # nothing else runs
        else:
            detail = f"{name}: no finished rollout carries the traffic ({shown})"
            return View(name, False, None, detail, continuing, busy_id, target)
    arn = str(serving.get("taskDefinition"))
    return View(name, True, arn, f"{name}: {shown}", continuing, busy_id, target)


class Follower:
    """Polls services until each move's deployment ends; shows progress, new service events
    and stopped tasks with their reason and log tail."""

    def __init__(
        self,
        ecs: EcsApi,
        cloudwatch: CloudWatch,
        cfg: EcsTargetConfig,
        console: Console,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.ecs = ecs
        self.cloudwatch = cloudwatch
        self.cfg = cfg
        self.console = console
        self.clock = clock
        self.sleep = sleep

    def follow(self, moves: list[Move], deadline: float) -> Watched | None:
        """None when every moved service's deployment COMPLETED as PRIMARY; else the first
        deployment that ended otherwise (or the timeout)."""
        pending = [m for m in moves if m.moved]
        while pending:
            services = self.ecs.describe_services(
                self.cfg.cluster, [m.service.name for m in pending]
            )
            for m in list(pending):
                watched = self.judge(m, services[m.service.name])
                if watched is None:
                    continue
                if watched.end != "completed":
                    return watched
                self.console.progress(f"{m.service.name}: {short_arn(m.new)} COMPLETED and PRIMARY")
                pending.remove(m)
            if not pending:
                return None
            if self.clock() >= deadline:
                return self._timeout(pending[0], services[pending[0].service.name])
            self.sleep(self.cfg.poll_seconds)
        return None

    def _timeout(self, m: Move, svc: Mapping[str, Any]) -> Watched:
        dep = next((d for d in svc.get("deployments", []) if d.get("id") == m.deployment), None)
        state = dep.get("rolloutState") if dep else "not seen"
        if dep and state is None:
            count = len(svc.get("deployments", []))
            state = f"not steady ({_running(dep)}, {count} deployment(s))"
        return Watched(
            "timeout",
            m.service.name,
            f"deployment {m.deployment or '(none)'} still {state} after "
            f"{format_seconds(self.cfg.timeout_seconds)}",
            rolling_view(m.service.name, svc).serving,
        )

    def judge(self, m: Move, svc: Mapping[str, Any]) -> Watched | None:
        """How m's deployment stands in `svc` (None: still rolling out)."""
        name = m.service.name
        self._show_events(name, svc, m.seen_events)
        primary = primary_deployment(svc) or {}
        if primary.get("taskDefinition") == m.new and primary.get("id") != m.deployment:
            if m.deployment:  # another deployment of our revision (e.g. a forced one)
                self.console.progress(f"{name}: following {primary.get('id')}")
            m.deployment = str(primary.get("id"))
        deps = list(svc.get("deployments", []))
        dep = next((d for d in deps if m.deployment and d.get("id") == m.deployment), None)
        if dep is None:
            return self._replaced(m, None, primary)
        shown = self._show_progress(m, dep)
        state = dep.get("rolloutState")
        if state == "FAILED":
            if not shown:
                self.show_stopped(m)
            why = str(dep.get("rolloutStateReason") or "rollout FAILED")
            back = primary.get("taskDefinition")
            extra = f"; PRIMARY is {short_arn(back)}" if back and back != m.new else ""
            reason = f"deployment {m.deployment} FAILED: {why}{extra}"
            return Watched("failed", name, reason, back)
        if dep.get("status") != "PRIMARY":
            return self._replaced(m, dep, primary)
        if state == "COMPLETED":
            return Watched("completed", name, str(dep.get("rolloutStateReason", "")), m.new)
        if state is None and _steady(dep, deps):
            why = f"steady state: the only deployment, {_running(dep)}"
            return Watched("completed", name, why, m.new)
        return None

    def _replaced(
        self, m: Move, dep: Mapping[str, Any] | None, primary: Mapping[str, Any]
    ) -> Watched | None:
        """Our deployment is not PRIMARY (or not listed) and PRIMARY runs another revision."""
        name = m.service.name
        now = primary.get("taskDefinition")
        if m.deployment is None:
            if m.looked == 0:
                m.looked += 1  # ECS may list the new deployment a moment later
                return None
            reason = (
                f"ECS started no deployment for {short_arn(m.new)}; PRIMARY is {short_arn(now)}"
            )
            return Watched("gone", name, reason, now)
        if now is None:
            return None  # no PRIMARY listed this time: look again
        if now != m.previous:
            return self._superseded(m, primary)
        what = "disappeared" if dep is None else f"was replaced by {primary.get('id')}"
        reason = f"deployment {m.deployment} {what}; PRIMARY is {short_arn(now)}"
        return Watched("gone", name, reason, now)

    def _superseded(self, m: Move, primary: Mapping[str, Any]) -> Watched:
        now = primary.get("taskDefinition")
        started = f" (created {primary['createdAt']})" if primary.get("createdAt") else ""
        return Watched(
            "superseded",
            m.service.name,
            f"deployment {m.deployment} of {short_arn(m.new)} was superseded: deployment "
            f"{primary.get('id')}{started} made {short_arn(now)} PRIMARY",
            str(now),
            dict(primary),
        )

    # -- display ---------------------------------------------------------------------------
    def _show_progress(self, m: Move, dep: Mapping[str, Any]) -> bool:
        """Print the rollout line when it changed; True when stopped tasks were shown."""
        failed = int(dep.get("failedTasks", 0))
        line = (
            f"{m.service.name}: {dep.get('rolloutState', '?')} running "
            f"{dep.get('runningCount', 0)}/{dep.get('desiredCount', 0)}"
            f" pending {dep.get('pendingCount', 0)} failed {failed}"
        )
        if line != m.last_line:
            self.console.progress(line)
            m.last_line = line
        if failed <= m.failed_seen:
            return False
        m.failed_seen = failed
        self.show_stopped(m)
        return True

    def _show_events(self, name: str, svc: Mapping[str, Any], seen: set[str]) -> None:
        fresh = [e for e in svc.get("events", []) if str(e.get("id")) not in seen]
        for event in reversed(fresh):  # ECS lists newest first
            seen.add(str(event.get("id")))
            self.console.progress(f"{name} event: {event.get('message', '')}")

    def show_stopped(self, m: Move) -> None:
        shown = m.shown_tasks
        try:
            tasks = self.ecs.stopped_tasks(self.cfg.cluster, m.service.name, m.new)
        except Exception as exc:  # diagnostics never hide the outcome
            self.console.warn(f"{m.service.name}: could not list stopped tasks: {exc}")
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
                f"{m.service.name}: task {task_id} stopped: "
                f"{task.get('stoppedReason', '?')}" + (f" ({containers})" if containers else "")
            )
            for line in self._log_tail(m, task_id):
                self.console.line(f"    | {line}")

    def _log_tail(self, m: Move, task_id: str) -> list[str]:
        if m.rendered is None or self.cfg.log_lines <= 0:
            return []
        try:
            container = m.rendered.container(m.container)
        except ConfigError:
            return []
        log = container.get("logConfiguration") or {}
        options = log.get("options") or {}
        if log.get("logDriver") != "awslogs" or "awslogs-group" not in options:
            return []
        prefix = options.get("awslogs-stream-prefix", "")
        stream = f"{prefix}/{m.container}/{task_id}" if prefix else task_id
        try:
            return self.cloudwatch.tail(options["awslogs-group"], stream, self.cfg.log_lines)
        except Exception as exc:
            return [f"(log tail unavailable: {exc})"]


def _steady(dep: Mapping[str, Any], deps: list[Mapping[str, Any]]) -> bool:
    """What `aws ecs wait services-stable` waits for, for a deployment ECS lists without a
    rolloutState (a service behind a Classic Load Balancer): it is the only deployment and
    runs every task it wants."""
    desired = dep.get("desiredCount")
    return len(deps) == 1 and desired is not None and dep.get("runningCount") == desired


def _running(dep: Mapping[str, Any]) -> str:
    return f"{dep.get('runningCount', 0)} of {dep.get('desiredCount', 0)} running"
