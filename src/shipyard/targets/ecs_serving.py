"""Which task definition carries an ECS service's traffic: the one rule every reader of a
service uses (the targets' observe and status, promote).

A service under an EXTERNAL or CODE_DEPLOY deployment controller serves from its task sets:
the PRIMARY one is production's. Its `deployments` list then says nothing about traffic. A
service under the ECS controller serves from its deployments (ecs_watch.rolling_view: the
PRIMARY one once its rollout completed, else the last completed one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.adapters.ecs import short_arn
from shipyard.targets.ecs_watch import View, rolling_view

TASK_SET_CONTROLLERS = ("CODE_DEPLOY", "EXTERNAL")


def uses_task_sets(svc: Mapping[str, Any]) -> bool:
    controller = (svc.get("deploymentController") or {}).get("type")
    return controller in TASK_SET_CONTROLLERS or bool(svc.get("taskSets"))


def serving_view(name: str, svc: Mapping[str, Any]) -> View:
    """What serves for the service `name`, as its describe_services answer shows it."""
    return taskset_view(name, svc) if uses_task_sets(svc) else rolling_view(name, svc)


def taskset_view(name: str, svc: Mapping[str, Any]) -> View:
    sets = list(svc.get("taskSets", []))
    if not sets:  # no task sets reported: the service's own field is all there is
        arn = svc.get("taskDefinition")
        return View(name, True, str(arn) if arn else None, f"{name}: {short_arn(arn)}")
    shown = ", ".join(
        f"{s.get('status')} {short_arn(s.get('taskDefinition'))} {s.get('stabilityStatus', '-')}"
        for s in sets
    )
    primary = next((s for s in sets if s.get("status") == "PRIMARY"), None)
    if primary is None:
        return View(name, False, None, f"{name}: no PRIMARY task set ({shown})")
    if not primary.get("taskDefinition"):
        return View(
            name, False, None, f"{name}: its PRIMARY task set names no task definition ({shown})"
        )
    continuing, busy, target = "", None, None
    if len(sets) > 1:
        newest = max(sets, key=lambda s: str(s.get("createdAt") or ""))
        busy = str(newest.get("externalId") or newest.get("id"))
        target = str(newest["taskDefinition"]) if newest.get("taskDefinition") else None
        continuing = (
            f"CodeDeploy deployment {busy} of {name} continues "
            f"({short_arn(target)} {newest.get('status')}, {newest.get('stabilityStatus', '?')})"
        )
    arn = str(primary.get("taskDefinition"))
    return View(name, True, arn, f"{name}: {shown}", continuing, busy, target)
