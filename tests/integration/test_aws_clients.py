"""Where shipyard's AWS clients get their credentials, region and endpoint (moto server): the
usual chain, a named profile, an assumed role, and a clear line for a profile that does not
exist. The clients come from botocore alone: a command that speaks to AWS never imports boto3."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.adapters.aws import AwsClients
from shipyard.config.aws import AwsConfig
from shipyard.errors import UsageError
from shipyard.secrets import redact
from tests.conftest import MotoServer

REGION = "ap-northeast-2"
ROLE = "arn:aws:iam::123456789012:role/gamepulse-deployer"


def test_a_client_speaks_to_the_configured_region_through_aws_endpoint_url(
    aws: MotoServer,
) -> None:
    client = AwsClients(AwsConfig(region="eu-west-1")).client("ecs")
    assert (client.meta.region_name, client.meta.endpoint_url) == ("eu-west-1", aws.endpoint)
    assert client.list_clusters()["clusterArns"] == []
    assert "shipyard" in client.meta.config.user_agent_extra


def test_the_same_service_is_one_client_and_another_region_shares_nothing(
    aws: MotoServer,
) -> None:
    clients = AwsClients(AwsConfig(region=REGION))
    assert clients.client("ecr") is clients.client("ecr")
    other = clients.for_region("us-east-1")
    assert other is not clients
    assert other.client("ecr") is not clients.client("ecr")
    assert other.client("ecr").meta.region_name == "us-east-1"
    assert clients.for_region(REGION) is clients


def test_an_assumed_role_signs_every_call_and_its_secrets_are_redacted(aws: MotoServer) -> None:
    config = AwsConfig(region=REGION, role_arn=ROLE, role_session_name="shipyard-test")
    clients = AwsClients(config)
    identity = clients.client("sts").get_caller_identity()
    assert identity["Arn"] == (
        "arn:aws:sts::123456789012:assumed-role/gamepulse-deployer/shipyard-test"
    )
    credentials = clients.session().get_credentials()
    assert credentials.access_key != "testing"
    assert credentials.token
    assert redact(f"key {credentials.secret_key}") == "key ***"
    assert redact(f"token {credentials.token}") == "token ***"


def test_a_named_profile_gives_its_own_keys(
    aws: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    shared = tmp_path / "credentials"
    shared.write_text(
        "[gamepulse]\naws_access_key_id = AKIAGAMEPULSE\naws_secret_access_key = profile-secret\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    clients = AwsClients(AwsConfig(region=REGION, profile="gamepulse"))
    assert clients.client("ecr").describe_repositories()["repositories"] == []
    assert clients.session().get_credentials().access_key == "AKIAGAMEPULSE"


def test_a_profile_that_does_not_exist_is_one_line_naming_it(
    aws: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    with pytest.raises(UsageError) as caught:
        AwsClients(AwsConfig(region=REGION, profile="nobody")).client("ecs")
    assert caught.value.message == (
        "create ecs client: The config profile (nobody) could not be found"
    )
    assert caught.value.hint == "check aws.profile or AWS_PROFILE"


def test_a_command_speaking_to_aws_never_imports_boto3(aws: MotoServer) -> None:
    probe = (
        "import sys\n"
        "from shipyard.adapters.aws import AwsClients\n"
        "from shipyard.config.aws import AwsConfig\n"
        f"AwsClients(AwsConfig(region={REGION!r})).client('ecs').list_clusters()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 's3transfer')))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert shown.strip() == "[]"
