"""inv setup-cicd: the AWS side of the GitHub Actions workflow, created or updated idempotently.

  1. the GitHub OIDC identity provider (token.actions.githubusercontent.com, audience
     sts.amazonaws.com),
  2. the role the workflow assumes, trusting only `repo:<owner>/<name>:environment:<env>`
     (deploy/iam/trust-policy.json),
  3. the customer-managed policy attached to it (deploy/iam/github-actions-policy.json), a new
     default version when the file changed,
  4. the DynamoDB table of the deploy lock.

Each is read first and only written when it differs, so a second run changes nothing and says
so. This runs with an administrator's credentials, once per account: its own IAM calls are
deliberately NOT in the CI policy.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shipyard.config.targets import LocalTargetConfig
from shipyard.context import Context
from shipyard.errors import UsageError
from shipyard.plan import Plan

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
SUB_KEY = f"{OIDC_HOST}:sub"
GITHUB_REPO = re.compile(r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class PolicyVariables:
    account_id: str
    region: str
    repository: str
    cluster: str
    project: str
    lock_table: str
    github_repository: str
    environments: tuple[str, ...] = ("staging", "production")


@dataclass(frozen=True)
class SetupOptions:
    github_repository: str
    role_name: str = "shipyard-github-actions"
    policy_name: str = "shipyard-github-actions"
    environments: tuple[str, ...] = ("staging", "production")
    dry_run: bool = False


@dataclass(frozen=True)
class Change:
    resource: str
    name: str
    change: str  # created | updated | unchanged | would create | would update
    detail: str = ""


@dataclass
class SetupResult:
    changes: list[Change] = field(default_factory=list)
    role_arn: str = ""
    plan: Plan | None = None

    @property
    def changed(self) -> bool:
        return any(c.change != "unchanged" for c in self.changes)


def render(text: str, variables: PolicyVariables) -> dict[str, Any]:
    """Fill {{placeholders}}; the trust policy's `sub` list is rebuilt from the environments."""
    values = {k: str(v) for k, v in vars(variables).items() if isinstance(v, str)}

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise UsageError(f"unknown placeholder {{{{{key}}}}} in an IAM policy file")
        return values[key]

    doc: dict[str, Any] = json.loads(re.sub(r"\{\{\s*(\w+)\s*\}\}", fill, text))
    for statement in doc.get("Statement", []):
        equals = statement.get("Condition", {}).get("StringEquals", {})
        if SUB_KEY in equals:
            equals[SUB_KEY] = [
                f"repo:{variables.github_repository}:environment:{env}"
                for env in variables.environments
            ]
    return doc


def _document(value: Any) -> dict[str, Any]:
    """IAM returns policy documents URL-encoded (boto3 usually decodes them already)."""
    if isinstance(value, dict):
        return value
    return dict(json.loads(urllib.parse.unquote(str(value))))


def _same(a: Any, b: Any) -> bool:
    return json.dumps(_document(a), sort_keys=True) == json.dumps(_document(b), sort_keys=True)


def variables_for(ctx: Context, opts: SetupOptions) -> PolicyVariables:
    if not GITHUB_REPO.match(opts.github_repository):
        raise UsageError(
            f"--repo {opts.github_repository!r} is not owner/name",
            hint="e.g. --repo acme/gamepulse (the GitHub repository that runs the workflow)",
        )
    target = ctx.config.target
    cluster = None if isinstance(target, LocalTargetConfig) else target.cluster
    if cluster is None:
        raise UsageError(
            f"{ctx.environment} deploys to this machine, not ECS",
            hint="run inv setup-cicd --env staging (or another AWS environment)",
        )
    region = getattr(ctx.config.registry, "region", None) or ctx.config.aws.region
    return PolicyVariables(
        account_id=ctx.aws.account_id(),
        region=region,
        repository=ctx.config.image.repository,
        cluster=cluster,
        project=ctx.config.project.name,
        lock_table=ctx.config.lock.table,
        github_repository=opts.github_repository,
        environments=opts.environments,
    )


def _missing(code: str) -> Callable[[Exception], bool]:
    from shipyard.adapters.aws import error_code

    return lambda exc: error_code(exc) == code


def _read(call: Callable[[], Any], action: str, *, missing: str = "NoSuchEntity") -> Any:
    """What `call` returns, or None when AWS answers with the error code `missing`."""
    import botocore.exceptions as bx

    from shipyard.adapters.aws import translate_errors

    try:
        return call()
    except bx.ClientError as exc:
        if not _missing(missing)(exc):
            with translate_errors(action):
                raise
        return None


def run(ctx: Context, opts: SetupOptions) -> SetupResult:
    variables = variables_for(ctx, opts)
    trust = render(ctx.path(TRUST_FILE).read_text(), variables)
    policy = render(ctx.path(POLICY_FILE).read_text(), variables)
    iam = ctx.aws.client("iam")
    result = SetupResult()
    write = not opts.dry_run
    would = "would " if opts.dry_run else ""

    def note(resource: str, name: str, change: str, detail: str = "") -> None:
        result.changes.append(Change(resource, name, change, detail))

    account = variables.account_id
    _oidc_provider(iam, account, write, note, would)
    role = _role(iam, opts, trust, write, note, would)
    result.role_arn = str(role["Arn"]) if role else f"arn:aws:iam::{account}:role/{opts.role_name}"
    policy_arn = f"arn:aws:iam::{account}:policy/{opts.policy_name}"
    _policy(iam, opts.policy_name, policy_arn, policy, write, note, would)
    _attachment(iam, opts, policy_arn, role is not None, write, note, would)
    _lock_table(ctx, variables.lock_table, write, note, would)
    if opts.dry_run:
        result.plan = _plan(result)
    return result


def _oidc_provider(
    iam: Any, account_id: str, write: bool, note: Callable[..., None], would: str
) -> None:
    """The GitHub OIDC identity provider, with our audience."""
    from shipyard.adapters.aws import translate_errors

    provider_arn = f"arn:aws:iam::{account_id}:oidc-provider/{OIDC_HOST}"
    provider = _read(
        lambda: iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn),
        "iam:GetOpenIDConnectProvider",
    )
    if provider is None:
        if write:
            with translate_errors("iam:CreateOpenIDConnectProvider"):
                iam.create_open_id_connect_provider(
                    Url=OIDC_URL, ClientIDList=[OIDC_AUDIENCE], ThumbprintList=OIDC_THUMBPRINTS
                )
        note("OIDC provider", OIDC_HOST, f"{would}create", f"audience {OIDC_AUDIENCE}")
    elif OIDC_AUDIENCE not in provider.get("ClientIDList", []):
        if write:
            with translate_errors("iam:AddClientIDToOpenIDConnectProvider"):
                iam.add_client_id_to_open_id_connect_provider(
                    OpenIDConnectProviderArn=provider_arn, ClientID=OIDC_AUDIENCE
                )
        note("OIDC provider", OIDC_HOST, f"{would}update", f"added audience {OIDC_AUDIENCE}")
    else:
        note("OIDC provider", OIDC_HOST, "unchanged")


def _role(
    iam: Any,
    opts: SetupOptions,
    trust: dict[str, Any],
    write: bool,
    note: Callable[..., None],
    would: str,
) -> dict[str, Any] | None:
    """The role the workflow assumes, with the trust policy; None while it does not exist
    (a dry run)."""
    from shipyard.adapters.aws import translate_errors

    name = opts.role_name
    role: dict[str, Any] | None = _read(
        lambda: iam.get_role(RoleName=name)["Role"], f"iam:GetRole {name}"
    )
    subs = ", ".join(f"environment:{e}" for e in opts.environments)
    if role is None:
        if write:
            with translate_errors(f"iam:CreateRole {name}"):
                role = iam.create_role(
                    RoleName=name,
                    AssumeRolePolicyDocument=json.dumps(trust),
                    Description=f"GitHub Actions of {opts.github_repository} (shipyard)",
                    MaxSessionDuration=3600,
                    Tags=[{"Key": "managed-by", "Value": "shipyard"}],
                )["Role"]
        note("role", name, f"{would}create", f"trusts {opts.github_repository} {subs}")
    elif not _same(role["AssumeRolePolicyDocument"], trust):
        if write:
            with translate_errors(f"iam:UpdateAssumeRolePolicy {name}"):
                iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
        note("trust policy", name, f"{would}update", f"{opts.github_repository} {subs}")
    else:
        note("role", name, "unchanged")
    return role


def _policy(
    iam: Any,
    name: str,
    policy_arn: str,
    policy: dict[str, Any],
    write: bool,
    note: Callable[..., None],
    would: str,
) -> None:
    """The customer-managed permissions policy, its default version as in POLICY_FILE."""
    from shipyard.adapters.aws import translate_errors

    current = _read(lambda: iam.get_policy(PolicyArn=policy_arn)["Policy"], f"iam:GetPolicy {name}")
    if current is None:
        if write:
            with translate_errors(f"iam:CreatePolicy {name}"):
                iam.create_policy(
                    PolicyName=name,
                    PolicyDocument=json.dumps(policy),
                    Description=f"What shipyard calls from CI ({POLICY_FILE})",
                )
        note("policy", name, f"{would}create", POLICY_FILE)
        return
    with translate_errors(f"iam:GetPolicyVersion {name}"):
        version = iam.get_policy_version(
            PolicyArn=policy_arn, VersionId=current["DefaultVersionId"]
        )["PolicyVersion"]
    if _same(version["Document"], policy):
        note("policy", name, "unchanged", f"version {current['DefaultVersionId']}")
        return
    if write:
        _new_default_version(iam, policy_arn, policy)
    note("policy", name, f"{would}update", f"new default version from {POLICY_FILE}")


def _attachment(
    iam: Any,
    opts: SetupOptions,
    policy_arn: str,
    role_exists: bool,
    write: bool,
    note: Callable[..., None],
    would: str,
) -> None:
    """The permissions policy attached to the role."""
    from shipyard.adapters.aws import translate_errors

    attached = []
    if role_exists:
        with translate_errors(f"iam:ListAttachedRolePolicies {opts.role_name}"):
            attached = [
                p["PolicyArn"]
                for p in iam.list_attached_role_policies(RoleName=opts.role_name)[
                    "AttachedPolicies"
                ]
            ]
    if policy_arn in attached:
        note("attachment", f"{opts.role_name} <- {opts.policy_name}", "unchanged")
        return
    if write:
        with translate_errors(f"iam:AttachRolePolicy {opts.role_name}"):
            iam.attach_role_policy(RoleName=opts.role_name, PolicyArn=policy_arn)
    note("attachment", f"{opts.role_name} <- {opts.policy_name}", f"{would}create")


def _new_default_version(iam: Any, policy_arn: str, policy: dict[str, Any]) -> None:
    from shipyard.adapters.aws import translate_errors

    with translate_errors("iam:ListPolicyVersions"):
        versions = iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]
    # IAM keeps at most five versions: drop the oldest non-default one first
    spare = sorted(
        (v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"]
    )
    if len(versions) >= 5 and spare:
        with translate_errors("iam:DeletePolicyVersion"):
            iam.delete_policy_version(PolicyArn=policy_arn, VersionId=spare[0]["VersionId"])
    with translate_errors("iam:CreatePolicyVersion"):
        iam.create_policy_version(
            PolicyArn=policy_arn, PolicyDocument=json.dumps(policy), SetAsDefault=True
        )


def _lock_table(
    ctx: Context, table: str, write: bool, note: Callable[..., None], would: str
) -> None:
    import importlib

    from shipyard.adapters.aws import translate_errors

    # the lock's own key, by module path: the table must be what locking/dynamodb.py reads
    key = str(getattr(importlib.import_module("shipyard.locking.dynamodb"), "KEY", "lock_id"))
    dynamodb = ctx.aws.client("dynamodb")
    described = _read(
        lambda: dynamodb.describe_table(TableName=table)["Table"],
        f"dynamodb:DescribeTable {table}",
        missing="ResourceNotFoundException",
    )
    if described is None:
        if write:
            with translate_errors(f"dynamodb:CreateTable {table}"):
                dynamodb.create_table(
                    TableName=table,
                    AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                    BillingMode="PAY_PER_REQUEST",
                )
                dynamodb.get_waiter("table_exists").wait(
                    TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
                )
        note("lock table", table, f"{would}create", f"partition key {key}, on-demand")
        return
    keys = [k["AttributeName"] for k in described.get("KeySchema", []) if k["KeyType"] == "HASH"]
    if keys != [key]:
        raise UsageError(
            f"the lock table {table!r} exists with partition key {keys}, not [{key!r}]",
            hint="set lock.table to another name or delete that table",
        )
    note("lock table", table, "unchanged")


def _plan(result: SetupResult) -> Plan:
    plan = Plan("setup-cicd")
    for change in result.changes:
        plan.add(f"{change.change} {change.resource}", f"{change.name} {change.detail}".strip())
    return plan
