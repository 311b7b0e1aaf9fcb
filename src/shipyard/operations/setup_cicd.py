"""inv setup-cicd: the AWS side of the GitHub Actions workflow, created or updated idempotently.

For every AWS environment (target kind ecs or ecs-bluegreen) in deploy/environments/, or those
named with --environments:

  1. the GitHub OIDC identity provider (token.actions.githubusercontent.com, audience
     sts.amazonaws.com), once per account,
  2. the environment's own role, <project>-<environment>-deploy, trusting only
     `repo:<owner>/<name>:environment:<environment>` (deploy/iam/trust-policy.json),
  3. its own customer-managed policy (deploy/iam/github-actions-policy.json rendered for that
     environment: its service, deployment group, lock item, log groups, secrets and task
     roles), a new default version when the rendering changed, attached to the role,
  4. the DynamoDB table of the deploy lock,
  5. blue/green environments: the CodeDeploy application and deployment group
     (setup_cicd_codedeploy.py), and a check that every configured hook function exists.

Each is read first and only written when it differs, so a second run changes nothing and says
so. What it cannot create (a hook's Lambda function, a deployment group without its load
balancer settings) is named in one line each and the run ends with exit 1. This runs with an
administrator's credentials, once per account: its own calls are deliberately NOT in the CI
policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from shipyard.adapters import iam_setup as iam
from shipyard.adapters.lock_table import KEY as LOCK_KEY
from shipyard.adapters.lock_table import LockTable
from shipyard.config.loader import known_environments, load_config
from shipyard.errors import UsageError
from shipyard.operations import setup_cicd_codedeploy as codedeploy
from shipyard.operations.setup_cicd_policy import PolicyVariables, render, role_name, variables_for
from shipyard.plan import Plan
from shipyard.records import record

if TYPE_CHECKING:
    from pathlib import Path

    from shipyard.adapters.aws import AwsClients
    from shipyard.config.model import ShipyardConfig
    from shipyard.context import Context

__all__ = ["PolicyVariables", "SetupOptions", "SetupResult", "render", "run"]

OIDC_HOST = "token.actions.githubusercontent.com"
OIDC_URL = f"https://{OIDC_HOST}"
OIDC_AUDIENCE = "sts.amazonaws.com"
# GitHub's published certificate thumbprints; AWS no longer checks them for this provider, but
# older partitions and the API shape still take a list.
OIDC_THUMBPRINTS = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
]
POLICY_FILE = "deploy/iam/github-actions-policy.json"
TRUST_FILE = "deploy/iam/trust-policy.json"
GITHUB_REPO = re.compile(r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")
NAME_PATTERN = "{project}-{environment}-deploy"
AWS_KINDS = ("ecs", "ecs-bluegreen")


@record
class SetupOptions:
    github_repository: str
    role_name: str = NAME_PATTERN  # {project} and {environment} are filled per environment
    policy_name: str = NAME_PATTERN
    dry_run: bool = False


@record
class Change:
    environment: str  # "" for what the environments share (OIDC provider, lock table)
    resource: str
    name: str
    change: str  # create | update | unchanged | would create | would update | missing
    detail: str = ""
    call: str = ""  # the AWS call that makes (or would make) the change


@record(frozen=False)
class SetupResult:
    changes: list[Change] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)  # environment -> role ARN
    problems: list[str] = field(default_factory=list)  # what it cannot do, one line each
    plan: Plan | None = None

    @property
    def changed(self) -> bool:
        return any(c.change not in ("unchanged", "missing") for c in self.changes)


Note = Callable[..., None]


class _Recorder:
    """note(resource, name, change, detail="", call="") for one environment."""

    def __init__(self, result: SetupResult, environment: str) -> None:
        self.result = result
        self.environment = environment

    def __call__(
        self, resource: str, name: str, change: str, detail: str = "", call: str = ""
    ) -> None:
        self.result.changes.append(Change(self.environment, resource, name, change, detail, call))


def aws_environments(root: Path, environ: Mapping[str, str]) -> list[ShipyardConfig]:
    """Every environment in deploy/environments/ that deploys to AWS, configuration loaded."""

    configs = [load_config(name, root=root, environ=environ) for name in known_environments(root)]
    return [cfg for cfg in configs if cfg.target.kind in AWS_KINDS]


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def run(
    contexts: Sequence[Context], opts: SetupOptions, peers: Sequence[ShipyardConfig] = ()
) -> SetupResult:
    """Set up each environment of `contexts`; `peers` are every AWS environment's configs
    (default: read from deploy/environments/), whose services each role may read."""
    if not GITHUB_REPO.match(opts.github_repository):
        raise UsageError(
            f"--repo {opts.github_repository!r} is not owner/name",
            hint="e.g. --repo acme/shop (the GitHub repository that runs the workflow)",
        )
    if not contexts:
        raise UsageError(
            "no AWS environment to set up",
            hint="add one to deploy/environments/ (target kind ecs or ecs-bluegreen)",
        )
    shared_name = [n for n in (opts.role_name, opts.policy_name) if "{environment}" not in n]
    if len(contexts) > 1 and shared_name:
        raise UsageError(
            "--role-name and --policy-name must contain {environment}: one role per environment",
            hint=f"e.g. --role-name {NAME_PATTERN}",
        )
    peers = peers or aws_environments(contexts[0].root, contexts[0].environ)
    # every environment's documents first: a bad one stops the run before anything is written
    prepared = [_documents(ctx, opts, peers) for ctx in contexts]
    result = SetupResult()
    shared: set[tuple[str, ...]] = set()
    for ctx, documents in zip(contexts, prepared, strict=True):
        _environment(ctx, opts, documents, result, shared)
    if opts.dry_run:
        result.plan = _plan(result)
    return result


@record
class _Names:
    role: str
    policy: str


@record
class _Documents:
    """One environment's rendered trust and permissions policy, and their names."""

    variables: PolicyVariables
    trust: dict[str, Any]
    policy: dict[str, Any]
    names: _Names


def _documents(ctx: Context, opts: SetupOptions, peers: Sequence[ShipyardConfig]) -> _Documents:
    variables = variables_for(ctx, opts.github_repository, peers)
    return _Documents(
        variables,
        render(ctx.path(TRUST_FILE).read_text(), variables, where=TRUST_FILE),
        render(ctx.path(POLICY_FILE).read_text(), variables, where=POLICY_FILE),
        _Names(
            role=role_name(opts.role_name, variables.project, ctx.environment),
            policy=role_name(opts.policy_name, variables.project, ctx.environment),
        ),
    )


def _environment(
    ctx: Context,
    opts: SetupOptions,
    docs: _Documents,
    result: SetupResult,
    shared: set[tuple[str, ...]],
) -> None:
    """One environment's role, policy and attachment, and what the account shares, once."""

    aws = ctx.aws
    write = not opts.dry_run
    would = "would " if opts.dry_run else ""
    note = _Recorder(result, ctx.environment)
    account = docs.variables.account_id
    if ("oidc", account) not in shared:
        shared.add(("oidc", account))
        _oidc_provider(aws, account, write, _Recorder(result, ""), would)
    names = docs.names
    role = _role(
        aws, names.role, opts.github_repository, ctx.environment, docs.trust, write, note, would
    )
    result.roles[ctx.environment] = (
        str(role["Arn"]) if role else f"arn:aws:iam::{account}:role/{names.role}"
    )
    policy_arn = f"arn:aws:iam::{account}:policy/{names.policy}"
    _policy(aws, names.policy, policy_arn, docs.policy, write, note, would)
    _attachment(aws, names, policy_arn, role is not None, write, note, would)
    table = ("lock", account, docs.variables.region, docs.variables.lock_table)
    if table not in shared:
        shared.add(table)
        _lock_table(aws, docs.variables.lock_table, write, _Recorder(result, ""), would)
    if codedeploy.bluegreen(ctx) is not None:
        result.problems += codedeploy.setup(ctx, write=write, note=note)


def _oidc_provider(aws: AwsClients, account_id: str, write: bool, note: Note, would: str) -> None:
    """The GitHub OIDC identity provider, with our audience."""

    provider_arn = f"arn:aws:iam::{account_id}:oidc-provider/{OIDC_HOST}"
    provider = iam.oidc_provider(aws, provider_arn)
    if provider is None:
        if write:
            iam.create_oidc_provider(aws, OIDC_URL, [OIDC_AUDIENCE], OIDC_THUMBPRINTS)
        note(
            "OIDC provider",
            OIDC_HOST,
            f"{would}create",
            f"audience {OIDC_AUDIENCE}",
            f"iam:CreateOpenIDConnectProvider {OIDC_URL}",
        )
    elif OIDC_AUDIENCE not in provider.get("ClientIDList", []):
        if write:
            iam.add_oidc_audience(aws, provider_arn, OIDC_AUDIENCE)
        note(
            "OIDC provider",
            OIDC_HOST,
            f"{would}update",
            f"added audience {OIDC_AUDIENCE}",
            f"iam:AddClientIDToOpenIDConnectProvider {OIDC_AUDIENCE}",
        )
    else:
        note("OIDC provider", OIDC_HOST, "unchanged")


def _role(
    aws: AwsClients,
    name: str,
    repository: str,
    environment: str,
    trust: dict[str, Any],
    write: bool,
    note: Note,
    would: str,
) -> dict[str, Any] | None:
    """The environment's role with its trust policy; None while it does not exist (a dry
    run)."""

    role = iam.role(aws, name)
    trusts = f"trusts {repository} environment:{environment} only"
    if role is None:
        if write:
            role = iam.create_role(
                aws,
                name,
                trust,
                f"GitHub Actions of {repository}, environment {environment} (shipyard)",
                {"managed-by": "shipyard", "shipyard-environment": environment},
            )
        note("role", name, f"{would}create", trusts, f"iam:CreateRole {name}")
    elif not _same(role["AssumeRolePolicyDocument"], trust):
        if write:
            iam.update_trust(aws, name, trust)
        note("trust policy", name, f"{would}update", trusts, f"iam:UpdateAssumeRolePolicy {name}")
    else:
        note("role", name, "unchanged", trusts)
    return role


def _policy(
    aws: AwsClients,
    name: str,
    policy_arn: str,
    policy: dict[str, Any],
    write: bool,
    note: Note,
    would: str,
) -> None:
    """The customer-managed permissions policy, its default version as in POLICY_FILE."""

    current = iam.policy(aws, name, policy_arn)
    if current is None:
        if write:
            iam.create_policy(
                aws,
                name,
                policy,
                f"What shipyard calls from CI, one environment ({POLICY_FILE})",
            )
        note("policy", name, f"{would}create", POLICY_FILE, f"iam:CreatePolicy {name}")
        return
    document = iam.policy_document(aws, name, policy_arn, current["DefaultVersionId"])
    if _same(document, policy):
        note("policy", name, "unchanged", f"version {current['DefaultVersionId']}")
        return
    if write:
        iam.new_default_version(aws, policy_arn, policy)
    note(
        "policy",
        name,
        f"{would}update",
        f"new default version from {POLICY_FILE}",
        f"iam:CreatePolicyVersion {name}",
    )


def _attachment(
    aws: AwsClients,
    names: _Names,
    policy_arn: str,
    role_exists: bool,
    write: bool,
    note: Note,
    would: str,
) -> None:
    """The permissions policy attached to the role."""

    attached = iam.attached_policies(aws, names.role) if role_exists else []
    what = f"{names.role} <- {names.policy}"
    if policy_arn in attached:
        note("attachment", what, "unchanged")
        return
    if write:
        iam.attach_policy(aws, names.role, policy_arn)
    note("attachment", what, f"{would}create", "", f"iam:AttachRolePolicy {names.role}")


def _lock_table(aws: AwsClients, table: str, write: bool, note: Note, would: str) -> None:
    lock_table = LockTable(aws, table)  # with the key locking/dynamodb.py reads and writes
    keys = lock_table.partition_keys()
    if keys is None:
        if write:
            lock_table.create()
        note(
            "lock table",
            table,
            f"{would}create",
            f"partition key {LOCK_KEY}, on-demand",
            f"dynamodb:CreateTable {table}",
        )
        return
    if keys != [LOCK_KEY]:
        raise UsageError(
            f"the lock table {table!r} exists with partition key {keys}, not [{LOCK_KEY!r}]",
            hint="set lock.table to another name or delete that table",
        )
    note("lock table", table, "unchanged")


def _plan(result: SetupResult) -> Plan:
    plan = Plan("setup-cicd")
    for change in result.changes:
        where = f"{change.environment}: " if change.environment else ""
        plan.add(
            f"{change.change} {change.resource}",
            f"{where}{change.name} {change.detail}".strip(),
            change.call.split(" ", 1) if change.change.startswith("would") else (),
        )
    plan.notes.extend(result.problems)
    return plan
