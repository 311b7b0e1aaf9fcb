"""The IAM documents of one environment's deploy role, rendered from deploy/iam/.

Placeholders are filled inside the parsed JSON's string values and the document is serialised
again, never by substituting into the text: a configured name can only ever be (JSON-escaped)
part of one string, never end it or add a statement. A placeholder with several values (one
per service, log group, task role, ...) turns the string that holds it into one string per
value. A statement left with an empty list (CodeDeploy for a rolling environment, SNS without
a topic) is dropped, which can only take permissions away.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING, Any

from shipyard.config.targets import EcsBlueGreenTargetConfig, EcsTargetConfig
from shipyard.errors import UsageError
from shipyard.preflight import PLACEHOLDER_VERSION
from shipyard.records import record
from shipyard.targets.ecs_base import EcsBase

if TYPE_CHECKING:
    from shipyard.config.model import ShipyardConfig
    from shipyard.context import Context

PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# a substituted value is a name, never a pattern: a wildcard or a policy variable in one would
# widen the statement it lands in
WIDENING = re.compile(r"[*?]|\$\{")


@record
class PolicyVariables:
    """One environment's values for deploy/iam/*.json; tuples are the several-valued ones."""

    account_id: str
    region: str
    environment: str
    project: str
    github_repository: str
    repository: str  # the ECR repository, shared by the environments promote moves between
    registry_region: str
    registry_account: str
    cluster: str
    lock_table: str
    metrics_namespace: str = "Shipyard"  # the only CloudWatch namespace deploys write to
    service: tuple[str, ...] = ()
    family: tuple[str, ...] = ()  # task definition families
    log_group: tuple[str, ...] = ()
    task_role: tuple[str, ...] = ()  # role ARNs the task definitions name
    codedeploy_application: tuple[str, ...] = ()
    deployment_group: tuple[str, ...] = ()  # application/group
    deployment_config: tuple[str, ...] = ()
    sns_topic: tuple[str, ...] = ()
    assume_role: tuple[str, ...] = ()  # aws.role_arn, when the environment assumes one
    # the other AWS environments' services (cluster/service) and clusters: promote reads what
    # its source runs, cleanup what every environment runs
    peer_service: tuple[str, ...] = ()
    peer_cluster: tuple[str, ...] = ()


def render(text: str, variables: PolicyVariables, *, where: str = "an IAM policy file") -> Any:
    """The JSON document `text` with every {{placeholder}} filled from `variables`."""
    values: dict[str, str | tuple[str, ...]] = asdict(variables)
    _check_values(values)
    try:
        template = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
    document = _fill(template, values, where)
    if isinstance(document, dict) and isinstance(document.get("Statement"), list):
        document["Statement"] = [s for s in document["Statement"] if not _has_empty_list(s)]
    return document


def _check_values(values: Mapping[str, str | tuple[str, ...]]) -> None:
    for name, value in values.items():
        for item in value if isinstance(value, tuple) else (value,):
            if not item or WIDENING.search(item):
                raise UsageError(
                    f"IAM policy value {{{{{name}}}}} = {item!r} is empty or contains a "
                    "wildcard or policy variable",
                    hint="names in the configuration must be literal (no *, ? or ${...})",
                )


def _expand(text: str, values: Mapping[str, str | tuple[str, ...]], where: str) -> list[str]:
    """`text` with its placeholders filled: one string per combination of several values."""
    names = PLACEHOLDER.findall(text)
    unknown = [n for n in names if n not in values]
    if unknown:
        raise UsageError(
            f"{where}: unknown placeholder {{{{{unknown[0]}}}}}",
            hint=f"known placeholders: {', '.join(sorted(values))}",
        )
    several = sorted({n for n in names if isinstance(values[n], tuple)})
    results = []
    for combination in itertools.product(*(values[n] for n in several)):
        chosen = {**values, **dict(zip(several, combination, strict=True))}
        results.append(PLACEHOLDER.sub(partial(_value_of, chosen), text))
    return results


def _value_of(chosen: Mapping[str, str | tuple[str, ...]], match: re.Match[str]) -> str:
    return str(chosen[match.group(1)])


def _several(text: str, values: Mapping[str, str | tuple[str, ...]]) -> bool:
    return any(isinstance(values.get(n), tuple) for n in PLACEHOLDER.findall(text))


def _fill(node: Any, values: Mapping[str, str | tuple[str, ...]], where: str) -> Any:
    if isinstance(node, dict):
        filled: dict[str, Any] = {}
        for key, value in node.items():
            if PLACEHOLDER.search(key):
                raise UsageError(f"{where}: a placeholder in the key {key!r}; only values take one")
            if isinstance(value, str) and not _several(value, values):
                filled[key] = _expand(value, values, where)[0]
            elif isinstance(value, str):
                filled[key] = _expand(value, values, where)
            else:
                filled[key] = _fill(value, values, where)
        return filled
    if isinstance(node, list):
        items: list[Any] = []
        for item in node:
            if isinstance(item, str):
                items.extend(_expand(item, values, where))
            else:
                items.append(_fill(item, values, where))
        if all(isinstance(i, str) for i in items):
            return list(dict.fromkeys(items))  # one resource named twice is named once
        return items
    if isinstance(node, str):
        return _expand(node, values, where)[0]
    return node


def _has_empty_list(node: Any) -> bool:
    if isinstance(node, list):
        return not node or any(_has_empty_list(i) for i in node)
    if isinstance(node, dict):
        return any(_has_empty_list(v) for v in node.values())
    return False


# -- one environment's values -------------------------------------------------------------------


def variables_for(
    ctx: Context, github_repository: str, peers: Sequence[ShipyardConfig] = ()
) -> PolicyVariables:
    """The values for `ctx`'s environment, read from its configuration and the task
    definitions a deploy would register; `peers` are the other environments' configs."""
    target = ctx.config.target
    if not isinstance(target, EcsTargetConfig):
        raise UsageError(
            f"{ctx.environment} deploys to this machine, not ECS",
            hint="set up AWS environments only (target kind ecs or ecs-bluegreen)",
        )
    account = ctx.aws.account_id()
    registry = ctx.config.registry
    documents = _task_definitions(ctx)
    sns = ctx.config.notify.sns
    return PolicyVariables(
        account_id=account,
        region=ctx.aws.region,
        environment=ctx.environment,
        project=ctx.config.project.name,
        github_repository=github_repository,
        repository=ctx.config.image.repository,
        registry_region=getattr(registry, "region", None) or ctx.aws.region,
        registry_account=getattr(registry, "account_id", None) or account,
        cluster=target.cluster,
        lock_table=ctx.config.lock.table,
        metrics_namespace=target.metrics_namespace,
        service=tuple(s.name for s in target.services),
        family=_unique(str(d.get("family", "")) for d in documents),
        log_group=_unique(g for d in documents for g in _log_groups(d)),
        task_role=_unique(_role_arn(r, account) for d in documents for r in _roles(d)),
        **_codedeploy(target),
        sns_topic=(sns.topic_arn,) if sns else (),
        assume_role=(ctx.config.aws.role_arn,) if ctx.config.aws.role_arn else (),
        **_peers(ctx, peers),
    )


def _unique(items: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


def _task_definitions(ctx: Context) -> list[dict[str, Any]]:
    """Each service's task definition as a deploy would render it."""

    target = EcsBase(ctx)
    return [dict(target.render(s, None, PLACEHOLDER_VERSION).document) for s in target.cfg.services]


def _log_groups(document: Mapping[str, Any]) -> list[str]:
    return [
        str(c["logConfiguration"]["options"]["awslogs-group"])
        for c in document.get("containerDefinitions", [])
        if c.get("logConfiguration", {}).get("logDriver") == "awslogs"
        and c["logConfiguration"].get("options", {}).get("awslogs-group")
    ]


def _roles(document: Mapping[str, Any]) -> list[str]:
    return [str(document[k]) for k in ("taskRoleArn", "executionRoleArn") if document.get(k)]


def _role_arn(role: str, account: str) -> str:
    # ECS takes a role's name as well as its ARN
    return role if role.startswith("arn:") else f"arn:aws:iam::{account}:role/{role}"


def _codedeploy(target: EcsTargetConfig) -> dict[str, tuple[str, ...]]:
    if not isinstance(target, EcsBlueGreenTargetConfig):
        return {}
    cd = target.codedeploy
    groups = (s.deployment_group or cd.deployment_group for s in target.services)
    return {
        "codedeploy_application": (cd.application,),
        "deployment_group": _unique(f"{cd.application}/{g}" for g in groups),
        "deployment_config": (cd.deployment_config,),
    }


def _peers(ctx: Context, peers: Sequence[ShipyardConfig]) -> dict[str, tuple[str, ...]]:
    """The other AWS environments in this account and region (a role cannot read another
    account's services, and the template names this region)."""
    services: list[str] = []
    clusters: list[str] = []
    for cfg in peers:
        target = cfg.target
        if cfg.environment == ctx.environment or not isinstance(target, EcsTargetConfig):
            continue
        if cfg.aws.region != ctx.aws.region or cfg.aws.account_id not in (
            None,
            ctx.aws.account_id(),
        ):
            continue
        services += [f"{target.cluster}/{s.name}" for s in target.services]
        clusters.append(target.cluster)
    return {"peer_service": _unique(services), "peer_cluster": _unique(clusters)}


def role_name(pattern: str, project: str, environment: str) -> str:
    """A role or policy name from a pattern such as {project}-{environment}-deploy."""
    try:
        name = pattern.format(project=project, environment=environment)
    except (KeyError, IndexError, ValueError):
        raise UsageError(
            f"name pattern {pattern!r}: only {{project}} and {{environment}} may be used",
            hint="e.g. --role-name {project}-{environment}-deploy",
        ) from None
    if not re.fullmatch(r"[\w+=,.@-]{1,64}", name):
        raise UsageError(
            f"{name!r} (from {pattern!r}) is not an IAM name: at most 64 letters, digits "
            "and +=,.@_-"
        )
    return name
