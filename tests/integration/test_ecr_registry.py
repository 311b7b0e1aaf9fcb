"""EcrRegistry and `inv ecr-repo` against moto in server mode (the ECR control plane)."""

from __future__ import annotations

import base64
import json
import re

import pytest

from shipyard.adapters.ecr import EcrRegistry
from shipyard.errors import ConfigError, RegistryError
from shipyard.operations import ecr_repository, push
from shipyard.operations.ecr_repository import EcrRepositoryOptions, render_lifecycle_policy
from shipyard.secrets import redact
from tests.conftest import MotoServer, Project
from tests.integration.ecr_helpers import SERVER, Captured, ecr_context, put


def _ecr(ctx) -> EcrRegistry:  # type: ignore[no-untyped-def]
    registry = ctx.registry
    assert isinstance(registry, EcrRegistry)
    return registry


def test_server_comes_from_sts_and_region(project: Project, aws: MotoServer) -> None:
    registry = _ecr(ecr_context(project.path))
    assert registry.server == SERVER


def test_account_from_aws_account_id_wins_over_sts(project: Project, aws: MotoServer) -> None:
    registry = _ecr(
        ecr_context(project.path, AWS_ACCOUNT_ID="210987654321", AWS_REGION="us-west-2")
    )
    assert registry.server == "210987654321.dkr.ecr.us-west-2.amazonaws.com"


def test_login_token_is_a_secret_and_never_printed(project: Project, aws: MotoServer) -> None:
    captured = Captured()
    ctx = ecr_context(project.path, captured=captured)
    ecr = ctx.aws.client("ecr")
    raw = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(raw).decode().split(":", 1)[1]
    creds = _ecr(ctx).credentials()
    assert creds.username == "AWS"
    assert creds.password.reveal() == password
    assert password not in repr(creds)
    assert password not in str(creds.password)
    # the push plan names the login but never the token
    result = push.run(ctx, push.PushOptions(version="1.0.0", dry_run=True))
    assert result.plan is not None
    result.plan.show(ctx.console)
    text = captured.text()
    assert "--password-stdin" in text
    assert SERVER in text
    assert password not in text
    assert raw not in text
    assert redact(f"token={password}") == "token=***"


def test_manifest_reads_digest_and_config_in_one_call(project: Project, aws: MotoServer) -> None:
    ctx = ecr_context(project.path)
    registry = _ecr(ctx)
    ecr = ctx.aws.client("ecr")
    ecr.create_repository(repositoryName=project.repository)
    config_digest = "sha256:" + "c" * 64
    digest = put(ecr, project.repository, 1, "1.0.0", config_digest=config_digest)
    calls: list[str] = []
    ecr.meta.events.register("before-call.ecr", lambda model, **_: calls.append(model.name))
    remote = registry.manifest(project.repository, "1.0.0")
    assert remote is not None
    assert remote.digest == digest
    assert remote.config_digest == config_digest  # what push compares with the local image id
    assert calls == ["BatchGetImage"]
    assert registry.manifest(project.repository, "9.9.9") is None


def test_manifest_of_a_missing_repository_says_how_to_create_it(
    project: Project, aws: MotoServer
) -> None:
    with pytest.raises(RegistryError, match="does not exist") as err:
        _ecr(ecr_context(project.path)).manifest(project.repository, "1.0.0")
    assert "inv ecr-repo" in (err.value.hint or "")


def test_ensure_creates_then_is_idempotent(project: Project, aws: MotoServer) -> None:
    project.append_config(
        "staging", "[registry.lifecycle]\nkeep_releases = 40\nuntagged_days = 3\n"
    )
    captured = Captured()
    ctx = ecr_context(project.path, captured=captured)
    first = ecr_repository.run(ctx, EcrRepositoryOptions())
    ecr_repository.show(first, ctx.console)
    assert first.created
    assert first.changed
    ecr = ctx.aws.client("ecr")
    repo = ecr.describe_repositories(repositoryNames=[project.repository])["repositories"][0]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["imageTagMutability"] == "MUTABLE"
    assert repo["encryptionConfiguration"]["encryptionType"] == "AES256"
    live = json.loads(
        ecr.get_lifecycle_policy(repositoryName=project.repository)["lifecyclePolicyText"]
    )
    assert live["rules"][1]["selection"]["countNumber"] == 40
    assert live["rules"][0]["selection"]["countNumber"] == 3
    assert re.search(r'^\+\s+"countNumber": 40,$', captured.text(), re.M)

    again = ecr_repository.run(ecr_context(project.path), EcrRepositoryOptions())
    assert not again.created
    assert not again.changed
    assert again.policy_diff == ()


def test_drift_is_put_back_and_the_policy_difference_shown(
    project: Project, aws: MotoServer
) -> None:
    ctx = ecr_context(project.path)
    ecr_repository.run(ctx, EcrRepositoryOptions())
    ecr = ctx.aws.client("ecr")
    name = project.repository
    ecr.put_image_scanning_configuration(
        repositoryName=name, imageScanningConfiguration={"scanOnPush": False}
    )
    ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")
    policy = render_lifecycle_policy(ctx.config.registry.lifecycle)  # type: ignore[union-attr]
    policy["rules"][1]["selection"]["countNumber"] = 5
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(policy))

    captured = Captured()
    dry_ctx = ecr_context(project.path, captured=captured)
    dry = ecr_repository.run(dry_ctx, EcrRepositoryOptions(dry_run=True))
    ecr_repository.show(dry, dry_ctx.console)
    text = captured.text()
    assert re.search(r'^-\s+"countNumber": 5,$', text, re.M)
    assert re.search(r'^\+\s+"countNumber": 30,$', text, re.M)
    assert "scan on push: false -> true" in text
    assert "nothing was changed" in text
    # the dry run changed nothing
    repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": False}

    fixed = ecr_repository.run(ecr_context(project.path), EcrRepositoryOptions())
    assert fixed.changed
    repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert repo["imageTagMutability"] == "MUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    live = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
    assert live == render_lifecycle_policy(ctx.config.registry.lifecycle)  # type: ignore[union-attr]


def test_immutable_with_moving_date_tag_is_refused_before_any_change(
    project: Project, aws: MotoServer
) -> None:
    path = project.path / "deploy" / "environments" / "staging.toml"
    path.write_text(
        path.read_text().replace('tag_mutability = "MUTABLE"', 'tag_mutability = "IMMUTABLE"')
    )
    with pytest.raises(ConfigError, match=r"moves \{date\}") as err:
        ecr_repository.run(ecr_context(project.path), EcrRepositoryOptions())
    assert "IMMUTABLE_WITH_EXCLUSION" in (err.value.hint or "")
    ecr = ecr_context(project.path).aws.client("ecr")
    assert ecr.describe_repositories()["repositories"] == []


def test_immutable_with_exclusions_for_moving_tags_is_created(
    project: Project, aws: MotoServer
) -> None:
    path = project.path / "deploy" / "environments" / "staging.toml"
    path.write_text(
        path.read_text().replace(
            'tag_mutability = "MUTABLE"',
            'tag_mutability = "IMMUTABLE_WITH_EXCLUSION"\nmutable_tags = ["latest", "20*"]',
        )
    )
    ctx = ecr_context(project.path)
    result = ecr_repository.run(ctx, EcrRepositoryOptions(latest=True))
    assert result.created
    repo = ctx.aws.client("ecr").describe_repositories(repositoryNames=[project.repository])[
        "repositories"
    ][0]
    assert repo["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert {f["filter"] for f in repo["imageTagMutabilityExclusionFilters"]} == {"latest", "20*"}
