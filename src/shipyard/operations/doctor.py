"""inv doctor --env E: is this environment ready for a release from here (or from CI)?

Checks, each OK, NG (with the fix) or SKIP (with why):
  credentials   who we are (sts:GetCallerIdentity)
  role          running as the deploy role, or the role's OIDC trust explained against what a
                GitHub job of this repository and environment presents (aud and sub)
  repository    the ECR repository
  cluster, service  the ECS cluster is ACTIVE and every configured service exists
  log group     the task definition's awslogs groups exist
  secrets       every secret reference in the config resolves, every secret the task
                definition names exists
  alarms        every alarm the target watches exists
  deployment group  blue/green: the CodeDeploy application and each service's deployment
                group exist and deploy that service
  hooks         blue/green: every Lambda function target.codedeploy.hooks names exists

Admin-time, like setup-cicd: it reads IAM (iam:GetRole), CodeDeploy's set-up and Lambda
(lambda:GetFunction), which the CI policy does not grant; CI never runs it.
"""

from __future__ import annotations

import fnmatch
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import field
from typing import Any, Literal

from shipyard.adapters.aws_readiness import AwsReadiness
from shipyard.adapters.codedeploy import hook_order
from shipyard.config.base import SecretRef
from shipyard.config.targets import ECS_HOOKS
from shipyard.context import Context
from shipyard.errors import AwsError, ShipyardError
from shipyard.operations import setup_cicd_codedeploy as codedeploy
from shipyard.operations.setup_cicd_policy import role_name
from shipyard.records import record
from shipyard.taskdef import render

Status = Literal["OK", "NG", "SKIP"]
OIDC_HOST = "token.actions.githubusercontent.com"


@record
class Check:
    name: str
    status: Status
    detail: str


@record
class DoctorOptions:
    role_name: str = "{project}-{environment}-deploy"  # as inv setup-cicd names it
    github_repository: str | None = None  # default: $GITHUB_REPOSITORY


@record(frozen=False)
class DoctorReport:
    environment: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != "NG" for c in self.checks)


class Skip(Exception):
    """A check that does not apply here; the message says why."""


def expected_subject(repository: str, environment: str) -> str:
    return f"repo:{repository}:environment:{environment}"


def explain_trust(trust: dict[str, Any], repository: str, environment: str) -> str | None:
    """None when a job of `repository` in GitHub environment `environment` may assume the role;
    otherwise what is wrong and how to fix it."""
    want_sub = expected_subject(repository, environment)
    subs: list[str] = []
    auds: list[str] = []
    federated = False
    for statement in trust.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        if "sts:AssumeRoleWithWebIdentity" not in _as_list(statement.get("Action")):
            continue
        if not any(
            OIDC_HOST in p for p in _as_list(statement.get("Principal", {}).get("Federated"))
        ):
            continue
        federated = True
        for operator, conditions in statement.get("Condition", {}).items():
            subs += [f"{operator} {s}" for s in _as_list(conditions.get(f"{OIDC_HOST}:sub"))]
            auds += _as_list(conditions.get(f"{OIDC_HOST}:aud"))
    if not federated:
        return (
            "the role does not trust GitHub's OIDC provider (no sts:AssumeRoleWithWebIdentity "
            f"for {OIDC_HOST}); run inv setup-cicd --repo {repository}"
        )
    if "sts.amazonaws.com" not in auds:
        return (
            f"the trust policy's aud is {auds or 'unset'}, but configure-aws-credentials presents "
            "sts.amazonaws.com; run inv setup-cicd to rewrite it"
        )
    if f"StringEquals {want_sub}" in subs or _like_matches(subs, want_sub):
        return None
    return (
        f"OIDC trust mismatch: a job of {repository} in GitHub environment {environment!r} "
        f"presents sub {want_sub!r}, the role accepts {', '.join(subs) or 'no sub'}; give the job "
        f"`environment: {environment}` or run inv setup-cicd --repo {repository}"
    )


def _like_matches(subs: list[str], want: str) -> bool:
    return any(
        s.startswith("StringLike ") and fnmatch.fnmatchcase(want, s.split(" ", 1)[1]) for s in subs
    )


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def run(ctx: Context, opts: DoctorOptions) -> DoctorReport:
    report = DoctorReport(ctx.environment)
    identity: dict[str, Any] = {}

    def check(name: str, probe: Callable[[], str]) -> bool:
        try:
            detail = probe()
        except Skip as why:
            report.checks.append(Check(name, "SKIP", str(why)))
            return True
        except ShipyardError as exc:
            report.checks.append(Check(name, "NG", exc.one_line()))
            return False
        report.checks.append(Check(name, "OK", detail))
        return True

    def credentials() -> str:
        identity.update(AwsReadiness(ctx.aws).caller_identity())
        return f"{identity['Arn']} (account {identity['Account']})"

    if not check("credentials", credentials):
        # nothing else can be asked without credentials
        return report
    check("role", lambda: _role(ctx, opts, identity))
    check("repository", lambda: _repository(ctx))
    check("cluster", lambda: _cluster(ctx))
    check("service", lambda: _services(ctx))
    check("log group", lambda: _log_groups(ctx, str(identity["Account"])))
    check("secrets", lambda: _secrets(ctx, str(identity["Account"])))
    check("alarms", lambda: _alarms(ctx))
    check("deployment group", lambda: _deployment_groups(ctx, opts))
    check("hooks", lambda: _hooks(ctx))
    return report


def _role(ctx: Context, opts: DoctorOptions, identity: dict[str, Any]) -> str:
    name = role_name(opts.role_name, ctx.config.project.name, ctx.environment)
    arn = str(identity["Arn"])
    if f":assumed-role/{name}/" in arn:
        return f"running as {name}"
    repository = opts.github_repository or ctx.environ.get("GITHUB_REPOSITORY")
    if not repository:
        raise Skip(f"not running as {name}; pass --repo owner/name to check its trust")
    role = AwsReadiness(ctx.aws).role(name)
    if role is None:
        raise AwsError(
            f"role {name} does not exist",
            hint=f"run inv setup-cicd --environments {ctx.environment} --repo {repository}",
        )
    document = role["AssumeRolePolicyDocument"]
    trust = document if isinstance(document, dict) else json.loads(urllib.parse.unquote(document))
    problem = explain_trust(trust, repository, ctx.environment)
    if problem:
        raise AwsError(problem)
    return f"{name} trusts {expected_subject(repository, ctx.environment)}"


def _repository(ctx: Context) -> str:
    if ctx.config.registry.kind != "ecr":
        raise Skip(f"registry kind {ctx.config.registry.kind}")
    name = ctx.config.image.repository
    return AwsReadiness(ctx.aws).repository_uri(name)


def _ecs_target(ctx: Context) -> Any:
    target = ctx.config.target
    if target.kind == "local":
        raise Skip("the target is this machine")
    return target


def _cluster(ctx: Context) -> str:
    target = _ecs_target(ctx)
    found = AwsReadiness(ctx.aws).clusters(target.cluster)
    active = [c for c in found if c.get("status") == "ACTIVE"]
    if not active:
        raise AwsError(
            f"cluster {target.cluster} not found or not ACTIVE", hint="check target.cluster"
        )
    return f"{target.cluster} ACTIVE"


def _services(ctx: Context) -> str:
    target = _ecs_target(ctx)
    names = [s.name for s in target.services]
    found = AwsReadiness(ctx.aws).services(target.cluster, names)
    active = {s["serviceName"]: s for s in found if s.get("status") == "ACTIVE"}
    missing = [n for n in names if n not in active]
    if missing:
        raise AwsError(
            f"service {', '.join(missing)} not found in {target.cluster}",
            hint="create the service (infrastructure) or fix target.services",
        )
    return ", ".join(f"{n} ({active[n].get('runningCount', 0)} running)" for n in names)


def _taskdef(ctx: Context, account: str) -> dict[str, Any]:
    cfg = ctx.config.taskdef
    overlay = cfg.overlay or f"deploy/taskdef/{ctx.environment}.json"
    overlays = [overlay] if ctx.path(overlay).is_file() else []
    region = getattr(ctx.config.registry, "region", None) or ctx.config.aws.region
    rendered = render(
        ctx.root,
        base=cfg.base,
        overlays=overlays,
        container=cfg.container,
        image=None,
        variables={"account_id": account, "region": region, "environment": ctx.environment},
    )
    return dict(rendered.document)


def _log_groups(ctx: Context, account: str) -> str:
    _ecs_target(ctx)
    doc = _taskdef(ctx, account)
    groups = sorted(
        {
            str(c["logConfiguration"]["options"]["awslogs-group"])
            for c in doc.get("containerDefinitions", [])
            if c.get("logConfiguration", {}).get("options", {}).get("awslogs-group")
        }
    )
    if not groups:
        raise Skip("the task definition logs nowhere in CloudWatch")
    readiness = AwsReadiness(ctx.aws)
    missing = [g for g in groups if g not in readiness.log_group_names(g)]
    if missing:
        raise AwsError(
            f"log group {', '.join(missing)} does not exist",
            hint="create it or set awslogs-create-group in the task definition",
        )
    return ", ".join(groups)


def _secrets(ctx: Context, account: str) -> str:
    refs: list[tuple[str, SecretRef]] = []
    slack = ctx.config.notify.slack
    if slack and slack.webhook_url:
        refs.append(("notify.slack.webhook_url", slack.webhook_url))
    if slack and slack.token:
        refs.append(("notify.slack.token", slack.token))
    password = getattr(ctx.config.registry, "password", None)
    if isinstance(password, SecretRef):
        refs.append(("registry.password", password))
    # a Slack credential from a variable this run lacks turns Slack off, as notify does: the
    # webhook lives in GitHub's secrets, not on the laptop doctor runs on
    off = {
        key: str(ref.env)
        for key, ref in refs
        if key.startswith("notify.slack") and ref.env and not ctx.environ.get(ref.env)
    }
    seen = []
    for key, ref in refs:
        if key not in off:
            ctx.secret(ref)  # resolving proves it is readable; the value is never shown
            seen.append(key)
    if ctx.config.target.kind != "local":
        doc = _taskdef(ctx, account)
        for container in doc.get("containerDefinitions", []):
            for secret in container.get("secrets", []):
                source = str(secret["valueFrom"])
                if ":secretsmanager:" in source:
                    secret_id = source.split(":::")[0] if ":::" in source else source
                    AwsReadiness(ctx.aws).describe_secret(secret_id, shown=secret["name"])
                elif ":ssm:" in source or source.startswith("/"):
                    name = source.split(":parameter", 1)[-1] if ":ssm:" in source else source
                    AwsReadiness(ctx.aws).get_parameter(name, shown=secret["name"])
                else:
                    raise AwsError(
                        f"secret {secret['name']}: {source} is neither SSM nor Secrets Manager"
                    )
                seen.append(f"{container['name']}:{secret['name']}")
    slack_off = f"slack off here ({', '.join(off.values())} not set)" if off else ""
    if not seen:
        raise Skip(slack_off or "no secrets configured")
    return f"{len(seen)} readable: {', '.join(seen)}" + (f"; {slack_off}" if off else "")


def _alarms(ctx: Context) -> str:
    target = _ecs_target(ctx)
    alarms = list(target.alarms)
    if not alarms:
        raise Skip("the target watches no alarms")
    names = AwsReadiness(ctx.aws).alarm_states(alarms)
    missing = [a for a in alarms if a not in names]
    if missing:
        raise AwsError(
            f"alarm {', '.join(missing)} does not exist", hint="create it or fix target.alarms"
        )
    return ", ".join(f"{a} ({names[a]})" for a in alarms)


def _deployment_groups(ctx: Context, opts: DoctorOptions) -> str:
    if codedeploy.bluegreen(ctx) is None:
        raise Skip(f"target kind {ctx.config.target.kind}: no CodeDeploy")
    ok, problems = codedeploy.group_report(ctx)
    if problems:
        repository = opts.github_repository or ctx.environ.get("GITHUB_REPOSITORY") or "OWNER/NAME"
        raise AwsError(
            "; ".join(problems),
            hint=f"run inv setup-cicd --environments {ctx.environment} --repo {repository} "
            "(it creates them from target.codedeploy: service_role, target_groups, "
            "prod_listener_arn) or fix target.codedeploy.deployment_group",
        )
    return ", ".join(ok)


def _hooks(ctx: Context) -> str:
    target = codedeploy.bluegreen(ctx)
    if target is None:
        raise Skip(f"target kind {ctx.config.target.kind}: no CodeDeploy hooks")
    if not target.codedeploy.hooks:
        raise Skip("no hooks configured (target.codedeploy.hooks)")
    absent = codedeploy.missing_hooks(ctx)
    if absent:
        raise AwsError(codedeploy.hooks_problem(ctx, absent))
    hooks = hook_order(target.codedeploy.hooks, ECS_HOOKS)
    return ", ".join(f"{hook} {function}" for hook, function in hooks.items())
