"""CodeDeploy for inv setup-cicd and inv doctor: the application, the deployment group of an
existing ECS service, and the Lambda functions the configured hooks name.

setup-cicd creates the application (compute platform ECS) and the deployment group when they
do not exist, and leaves an existing one as it is. A deployment group needs what only the
infrastructure knows, so it is created from [target.codedeploy] service_role, target_groups
(blue, green) and prod_listener_arn (test_listener_arn optional); without them, or for an
environment of several services (those keys describe one), the missing group is reported, not
guessed. Hook functions are never created: a missing one is named with how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shipyard.adapters import codedeploy_setup as cd_api
from shipyard.adapters.awslambda import missing_functions
from shipyard.adapters.codedeploy import hook_order
from shipyard.config.targets import ECS_HOOKS, EcsBlueGreenTargetConfig, EcsServiceConfig

if TYPE_CHECKING:
    from shipyard.context import Context

Note = Callable[..., None]
GROUP_KEYS = ("service_role", "target_groups", "prod_listener_arn")
DEFAULT_TERMINATION_WAIT_MINUTES = 5


def bluegreen(ctx: Context) -> EcsBlueGreenTargetConfig | None:
    target = ctx.config.target
    return target if isinstance(target, EcsBlueGreenTargetConfig) else None


def setup(ctx: Context, *, write: bool, note: Note) -> list[str]:
    """Create what is missing; returns what it could not do, one line each."""
    target = bluegreen(ctx)
    assert target is not None
    cd = target.codedeploy
    would = "" if write else "would "
    problems: list[str] = []
    app = cd_api.application(ctx.aws, cd.application)
    if app is None:
        if write:
            cd_api.create_application(ctx.aws, cd.application)
        call = f"codedeploy:CreateApplication {cd.application}"
        note(
            "CodeDeploy application", cd.application, f"{would}create", "compute platform ECS", call
        )
    elif app.get("computePlatform") != "ECS":
        problems.append(
            f"{ctx.environment}: CodeDeploy application {cd.application} is for "
            f"{app.get('computePlatform')}, not ECS; set target.codedeploy.application to an "
            "ECS application (or a new name for setup-cicd to create)"
        )
        note("CodeDeploy application", cd.application, "missing", "not an ECS application")
    else:
        note("CodeDeploy application", cd.application, "unchanged", "exists")
    exists = app is not None
    for service in dict((group_of(target, s), s) for s in target.services).values():
        problem = _group(ctx, target, service, exists, write=write, note=note)
        if problem:
            problems.append(problem)
    absent = missing_hooks(ctx)
    for hook, function in hook_order(cd.hooks or {}, ECS_HOOKS).items():
        state = "missing" if (hook, function) in absent else "unchanged"
        note("hook", hook, state, f"Lambda function {function}")
    return problems + ([hooks_problem(ctx, absent)] if absent else [])


def group_of(target: EcsBlueGreenTargetConfig, service: EcsServiceConfig) -> str:
    return service.deployment_group or target.codedeploy.deployment_group


def _group(
    ctx: Context,
    target: EcsBlueGreenTargetConfig,
    service: EcsServiceConfig,
    app_exists: bool,
    *,
    write: bool,
    note: Note,
) -> str | None:
    """The service's deployment group; a problem line when it cannot be made right."""
    cd = target.codedeploy
    name = group_of(target, service)
    shown = f"{cd.application}/{name}"
    wanted = (target.cluster, service.name)
    group = cd_api.deployment_group(ctx.aws, cd.application, name) if app_exists else None
    if group is not None:
        found = cd_api.group_service(group)
        if found != wanted:
            note("deployment group", shown, "missing", f"deploys {_where(found)}")
            return (
                f"{ctx.environment}: deployment group {shown} deploys {_where(found)}, not "
                f"{_where(wanted)}; name another group in target.codedeploy.deployment_group "
                "(or the service's deployment_group)"
            )
        note("deployment group", shown, "unchanged", f"exists, {_where(wanted)}")
        return None
    spec, why = group_spec(ctx, target, service)
    if spec is not None:
        why = _service_problem(ctx, target.cluster, service.name)
        spec = None if why else spec
    if spec is None:
        note("deployment group", shown, "missing", why)
        return f"{ctx.environment}: deployment group {shown} does not exist: {why}"
    if write:
        cd_api.create_deployment_group(ctx.aws, spec)
    detail = (
        f"{_where(wanted)}, target groups {'/'.join(spec.target_groups)}, prod listener "
        f"{spec.prod_listener_arn.split(':listener/')[-1]}, {spec.deployment_config}"
    )
    would = "" if write else "would "
    call = f"codedeploy:CreateDeploymentGroup {shown}"
    note("deployment group", shown, f"{would}create", detail, call)
    return None


def _service_problem(ctx: Context, cluster: str, name: str) -> str:
    """Why CodeDeploy cannot take the service over ('' when it can)."""
    found = cd_api.ecs_service(ctx.aws, cluster, name)
    if found is None:
        return (
            f"the ECS service {cluster}/{name} does not exist yet; create it with "
            "deploymentController CODE_DEPLOY, then run inv setup-cicd again"
        )
    controller = found.get("deploymentController", {}).get("type", "ECS")
    if controller != "CODE_DEPLOY":
        return (
            f"the ECS service {cluster}/{name} has deployment controller {controller}; "
            "CodeDeploy needs CODE_DEPLOY, which is chosen when the service is created"
        )
    return ""


def _where(found: tuple[str, str] | None) -> str:
    return f"{found[0]}/{found[1]}" if found else "no ECS service"


def group_spec(
    ctx: Context, target: EcsBlueGreenTargetConfig, service: EcsServiceConfig
) -> tuple[cd_api.GroupSpec | None, str]:
    """The group to create for `service`, or None and what to set (in one line)."""
    cd = target.codedeploy
    where = f"deploy/environments/{ctx.environment}.toml"
    if len(target.services) > 1:
        return None, (
            "setup-cicd creates the deployment group of a single-service environment only "
            "(target.codedeploy's target groups and listener describe one service); create it "
            "in CodeDeploy yourself"
        )
    role, groups, listener = cd.service_role, cd.target_groups, cd.prod_listener_arn
    if role is None or groups is None or listener is None:
        given = (role, groups, listener)
        keys = ", ".join(
            f"target.codedeploy.{k}" for k, v in zip(GROUP_KEYS, given, strict=True) if v is None
        )
        return None, f"to let setup-cicd create it set {keys} in {where}, or create it yourself"
    if not role.startswith("arn:"):
        role = f"arn:aws:iam::{ctx.aws.account_id()}:role/{role}"
    wait = cd.termination_wait_minutes
    spec = cd_api.GroupSpec(
        application=cd.application,
        name=group_of(target, service),
        cluster=target.cluster,
        service=service.name,
        service_role_arn=role,
        target_groups=(groups[0], groups[1]),
        prod_listener_arn=listener,
        test_listener_arn=cd.test_listener_arn,
        deployment_config=cd.deployment_config,
        termination_wait_minutes=DEFAULT_TERMINATION_WAIT_MINUTES if wait is None else wait,
        alarms=tuple(target.alarms),
    )
    return spec, ""


# -- checks shared with inv doctor ---------------------------------------------------------------


def missing_hooks(ctx: Context) -> list[tuple[str, str]]:
    """(hook, function) of every configured hook whose Lambda function does not exist."""

    target = bluegreen(ctx)
    hooks = hook_order(target.codedeploy.hooks or {}, ECS_HOOKS) if target else {}
    if not hooks:
        return []
    missing = set(missing_functions(ctx.aws, hooks.values()))
    return [(h, f) for h, f in hooks.items() if f in missing]


def hooks_problem(ctx: Context, absent: list[tuple[str, str]]) -> str:
    """One line naming the missing hook functions and how to fix it."""
    named = ", ".join(f"{f} ({h})" for h, f in absent)
    functions, exist, it = (
        ("function", "does", "it") if len(absent) == 1 else ("functions", "do", "them")
    )
    return (
        f"{ctx.environment}: CodeDeploy hook Lambda {functions} {named} {exist} not exist in "
        f"{ctx.aws.region}; create {it}, or remove the hook from target.codedeploy.hooks in "
        f"deploy/environments/{ctx.environment}.toml"
    )


def group_report(ctx: Context) -> tuple[list[str], list[str]]:
    """(deployment groups that are right, problem lines) for inv doctor."""
    target = bluegreen(ctx)
    assert target is not None
    cd = target.codedeploy
    ok: list[str] = []
    problems: list[str] = []
    if cd_api.application(ctx.aws, cd.application) is None:
        return ok, [f"CodeDeploy application {cd.application} does not exist"]
    for service in target.services:
        name = group_of(target, service)
        group = cd_api.deployment_group(ctx.aws, cd.application, name)
        wanted = (target.cluster, service.name)
        if group is None:
            problems.append(f"deployment group {cd.application}/{name} does not exist")
        elif cd_api.group_service(group) != wanted:
            found = _where(cd_api.group_service(group))
            problems.append(f"deployment group {cd.application}/{name} deploys {found}")
        elif why := _service_problem(ctx, target.cluster, service.name):
            problems.append(why)
        else:
            ok.append(f"{cd.application}/{name} -> {_where(wanted)}")
    return ok, problems
