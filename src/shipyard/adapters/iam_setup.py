"""IAM for the GitHub Actions workflow: the OIDC identity provider, the environments' roles and
their customer-managed policies.

Admin-time: inv setup-cicd calls these with an administrator's credentials; none of them is in
the CI policy. Readers answer None for what does not exist, and policy documents come back as
dicts whichever form IAM sent them in.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from shipyard.adapters.aws import AwsClients, error_code, translate_errors

MAX_POLICY_VERSIONS = 5  # IAM's limit per managed policy


def document(value: Any) -> dict[str, Any]:
    """A policy document as a dict: IAM returns them URL-encoded (boto3 usually decodes them
    already)."""
    if isinstance(value, dict):
        return value
    return dict(json.loads(urllib.parse.unquote(str(value))))


def read_or_none(call: Callable[[], Any], action: str, *, missing: str = "NoSuchEntity") -> Any:
    """What `call` returns, or None when AWS answers with the error code `missing`."""
    import botocore.exceptions as bx

    try:
        return call()
    except bx.ClientError as exc:
        if error_code(exc) != missing:
            with translate_errors(action):
                raise
        return None


def _iam(aws: AwsClients) -> Any:
    return aws.client("iam")


def oidc_provider(aws: AwsClients, provider_arn: str) -> dict[str, Any] | None:
    found = read_or_none(
        lambda: _iam(aws).get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn),
        "iam:GetOpenIDConnectProvider",
    )
    return dict(found) if found is not None else None


def create_oidc_provider(
    aws: AwsClients, url: str, audiences: list[str], thumbprints: list[str]
) -> None:
    with translate_errors("iam:CreateOpenIDConnectProvider"):
        _iam(aws).create_open_id_connect_provider(
            Url=url, ClientIDList=audiences, ThumbprintList=thumbprints
        )


def add_oidc_audience(aws: AwsClients, provider_arn: str, audience: str) -> None:
    with translate_errors("iam:AddClientIDToOpenIDConnectProvider"):
        _iam(aws).add_client_id_to_open_id_connect_provider(
            OpenIDConnectProviderArn=provider_arn, ClientID=audience
        )


def role(aws: AwsClients, name: str) -> dict[str, Any] | None:
    """The role (its trust policy as a dict), or None when it does not exist."""
    found = read_or_none(lambda: _iam(aws).get_role(RoleName=name)["Role"], f"iam:GetRole {name}")
    if found is None:
        return None
    return {**found, "AssumeRolePolicyDocument": document(found["AssumeRolePolicyDocument"])}


def create_role(
    aws: AwsClients, name: str, trust: dict[str, Any], description: str, tags: dict[str, str]
) -> dict[str, Any]:
    with translate_errors(f"iam:CreateRole {name}"):
        created = _iam(aws).create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description=description,
            MaxSessionDuration=3600,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["Role"]
    return dict(created)


def update_trust(aws: AwsClients, name: str, trust: dict[str, Any]) -> None:
    with translate_errors(f"iam:UpdateAssumeRolePolicy {name}"):
        _iam(aws).update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))


def policy(aws: AwsClients, name: str, policy_arn: str) -> dict[str, Any] | None:
    """The managed policy, or None when it does not exist."""
    found = read_or_none(
        lambda: _iam(aws).get_policy(PolicyArn=policy_arn)["Policy"], f"iam:GetPolicy {name}"
    )
    return dict(found) if found is not None else None


def policy_document(aws: AwsClients, name: str, policy_arn: str, version: str) -> dict[str, Any]:
    """The document of one version of the policy."""
    with translate_errors(f"iam:GetPolicyVersion {name}"):
        answer = _iam(aws).get_policy_version(PolicyArn=policy_arn, VersionId=version)
    return document(answer["PolicyVersion"]["Document"])


def create_policy(aws: AwsClients, name: str, policy_doc: dict[str, Any], description: str) -> None:
    with translate_errors(f"iam:CreatePolicy {name}"):
        _iam(aws).create_policy(
            PolicyName=name, PolicyDocument=json.dumps(policy_doc), Description=description
        )


def new_default_version(aws: AwsClients, policy_arn: str, policy_doc: dict[str, Any]) -> None:
    """Make `policy_doc` the policy's default version, first dropping the oldest non-default
    version when IAM's limit is reached."""
    iam = _iam(aws)
    with translate_errors("iam:ListPolicyVersions"):
        versions = iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]
    spare = sorted(
        (v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"]
    )
    if len(versions) >= MAX_POLICY_VERSIONS and spare:
        with translate_errors("iam:DeletePolicyVersion"):
            iam.delete_policy_version(PolicyArn=policy_arn, VersionId=spare[0]["VersionId"])
    with translate_errors("iam:CreatePolicyVersion"):
        iam.create_policy_version(
            PolicyArn=policy_arn, PolicyDocument=json.dumps(policy_doc), SetAsDefault=True
        )


def attached_policies(aws: AwsClients, role_name: str) -> list[str]:
    """The ARNs of the managed policies attached to the role."""
    with translate_errors(f"iam:ListAttachedRolePolicies {role_name}"):
        answer = _iam(aws).list_attached_role_policies(RoleName=role_name)
    return [str(p["PolicyArn"]) for p in answer["AttachedPolicies"]]


def attach_policy(aws: AwsClients, role_name: str, policy_arn: str) -> None:
    with translate_errors(f"iam:AttachRolePolicy {role_name}"):
        _iam(aws).attach_role_policy(RoleName=role_name, PolicyArn=policy_arn)
