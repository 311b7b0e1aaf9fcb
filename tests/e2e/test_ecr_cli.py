"""The ECR commands as a user types them: inv ecr-repo / scan / cleanup and
scripts/push-to-ecr.sh, as subprocesses against moto server."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import REPO, MotoServer, Project

SCRIPT = REPO / "scripts" / "push-to-ecr.sh"
ACCOUNT = "123456789012"


def script(
    project: Project, aws: MotoServer, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    moto_env = {k: v for k, v in aws.env().items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    return subprocess.run(
        [str(SCRIPT), *args],
        cwd=project.path,
        env={**project.env, **moto_env, "SHIPYARD_ROOT": str(project.path), **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def ecr(aws: MotoServer) -> Any:
    return boto3.client("ecr", region_name="ap-northeast-2", endpoint_url=aws.endpoint)


def test_usage_errors_exit_2_with_a_usage_line(project: Project, aws: MotoServer) -> None:
    for args, message in [
        (["--bogus"], "unknown option: --bogus"),
        (["--version"], "--version needs a value"),
        (["--version", "--latest"], "--version needs a value"),
    ]:
        proc = script(project, aws, *args)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr
        assert "usage: " in proc.stderr
    assert script(project, aws, "--help").returncode == 0


def test_a_bad_version_is_refused_by_inv_with_exit_2(project: Project, aws: MotoServer) -> None:
    proc = script(project, aws, "--dry-run", "--version", "one.two")
    assert proc.returncode == 2
    assert "not a semantic version" in proc.stderr
    assert "Traceback" not in proc.stderr


PLAN_ENV = {
    "AWS_REGION": "us-west-2",
    "AWS_ACCOUNT_ID": "210987654321",
    "ECR_REPOSITORY": "gamepulse-api",
}


@pytest.mark.parametrize(
    ("args", "version", "steps", "env"),
    [
        ([], "0.1.1", ["ecr-repo", "version", "build", "tag", "push"], {}),
        (
            ["--version", "1.2.3"],
            "1.2.3",
            ["ecr-repo", "version", "build", "tag", "push"],
            PLAN_ENV,
        ),
        (
            ["--multi-arch", "--latest", "--scan"],
            "0.1.1",
            ["ecr-repo", "version", "build", "scan"],
            {},
        ),
    ],
)
def test_gamepulse_interface_in_dry_run(
    project: Project,
    aws: MotoServer,
    args: list[str],
    version: str,
    steps: list[str],
    env: dict[str, str],
) -> None:
    (project.path / "version.txt").write_text("0.1.0\n")
    proc = script(project, aws, "--dry-run", *args, **env)
    assert proc.returncode == 0, proc.stderr
    called = [line.split()[2] for line in proc.stderr.splitlines() if line.startswith("==> inv ")]
    assert called == steps
    assert all(
        "--env staging" in line and "--dry-run" in line
        for line in proc.stderr.splitlines()
        if line.startswith("==> inv ")
    )
    if env:  # the plan's variables: region, account, repository
        assert (
            f"210987654321.dkr.ecr.us-west-2.amazonaws.com/gamepulse-api:{version}" in proc.stdout
        )
    else:  # AWS_REGION defaults to ap-northeast-2, the account is detected with STS
        server = f"{ACCOUNT}.dkr.ecr.ap-northeast-2.amazonaws.com"
        assert f"{server}/{project.repository}:{version}" in proc.stdout
    assert "nothing was changed" in proc.stdout
    if "--multi-arch" in args:
        assert "linux/amd64,linux/arm64" in proc.stdout
    # a dry run changes nothing: no version written, no repository created
    assert (project.path / "version.txt").read_text() == "0.1.0\n"
    assert ecr(aws).describe_repositories()["repositories"] == []


def test_ecr_repo_creates_once_then_reports_up_to_date(project: Project, aws: MotoServer) -> None:
    first = project.inv("ecr-repo", "--env", "staging", extra_env=aws.env())
    assert first.returncode == 0, first.stderr
    assert "(created)" in first.stdout
    assert "lifecycle policy changed" in first.stdout
    again = project.inv("ecr-repo", "--env", "staging", extra_env=aws.env())
    assert again.returncode == 0, again.stderr
    assert "already up to date" in again.stdout
    assert "lifecycle policy: unchanged" in again.stdout


def test_missing_credentials_are_one_line_saying_how_to_provide_them(
    project: Project, aws: MotoServer, tmp_path: Path
) -> None:
    env = {
        "AWS_ENDPOINT_URL": aws.endpoint,
        "AWS_REGION": "ap-northeast-2",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    proc = project.inv("ecr-repo", "--env", "staging", extra_env=env)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "no AWS credentials found" in lines[0]
    assert "AWS_PROFILE" in lines[0]


def test_scan_gate_fails_on_a_critical_finding(project: Project, aws: MotoServer) -> None:
    client = ecr(aws)
    client.create_repository(repositoryName=project.repository)
    text = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "x", "size": 1, "digest": "sha256:" + "1" * 64},
            "layers": [{"mediaType": "x", "size": 1, "digest": "sha256:" + "2" * 64}],
        }
    )
    client.put_image(repositoryName=project.repository, imageManifest=text, imageTag="1.0.0")
    result = {
        "registryId": ACCOUNT,
        "repositoryName": project.repository,
        "imageId": {"imageTag": "1.0.0"},
        "imageScanStatus": {"status": "COMPLETE", "description": "done"},
        "imageScanFindings": {
            "findings": [
                {
                    "name": "CVE-2024-1111",
                    "severity": "CRITICAL",
                    "attributes": [
                        {"key": "package_name", "value": "busybox"},
                        {"key": "package_version", "value": "1.35"},
                    ],
                }
            ]
        },
    }
    req = urllib.request.Request(
        f"{aws.endpoint}/moto-api/static/ecr/scan-finding-results",
        method="POST",
        data=json.dumps({"results": [result], "region": "ap-northeast-2"}).encode(),
    )
    urllib.request.urlopen(req, timeout=10).read()

    proc = project.inv("scan", "--env", "staging", "--version", "1.0.0", extra_env=aws.env())
    assert proc.returncode == 1
    assert "CVE-2024-1111" in proc.stdout
    assert "BLOCKING" in proc.stdout
    assert "CRITICAL" in proc.stdout
    assert proc.stderr.strip().splitlines()[-1].startswith("error: 1 finding(s) at HIGH or worse")
    as_json = project.inv(
        "scan", "--env", "staging", "--version", "1.0.0", "--json", extra_env=aws.env()
    )
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["blocking"] == ["CVE-2024-1111"]


def test_scan_local_runs_hadolint(project: Project) -> None:
    clean = project.inv("scan", "--local")
    assert clean.returncode == 0, clean.stderr
    assert "clean" in clean.stdout
    dockerfile = project.path / "app" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\nRUN cd /tmp && echo hi\n")
    dirty = project.inv("scan", "--local")
    assert dirty.returncode == 1
    assert "DL3003" in dirty.stdout  # use WORKDIR to switch to a directory
    assert "hadolint found" in dirty.stderr


def test_cleanup_dry_run_lists_and_deletes_nothing(project: Project, aws: MotoServer) -> None:
    client = ecr(aws)
    client.create_repository(repositoryName=project.repository)
    for n in range(1, 15):
        text = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "x", "size": n, "digest": f"sha256:{n:064x}"},
                "layers": [{"mediaType": "x", "size": n, "digest": f"sha256:{n + 100:064x}"}],
            }
        )
        client.put_image(repositoryName=project.repository, imageManifest=text, imageTag=f"1.0.{n}")
    ecs = boto3.client("ecs", region_name="ap-northeast-2", endpoint_url=aws.endpoint)
    ecs.create_cluster(clusterName="gamepulse-cluster")
    server = f"{ACCOUNT}.dkr.ecr.ap-northeast-2.amazonaws.com"
    for service, version in (("gamepulse-staging", "1.0.2"), ("gamepulse-production", "1.0.1")):
        arn = ecs.register_task_definition(
            family=service,
            containerDefinitions=[
                {
                    "name": "gamepulse",
                    "image": f"{server}/{project.repository}:{version}",
                    "memory": 128,
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster="gamepulse-cluster", serviceName=service, taskDefinition=arn)

    proc = project.inv("cleanup", "--env", "staging", "--dry-run", extra_env=aws.env())
    assert proc.returncode == 0, proc.stderr
    assert "would delete" in proc.stdout
    assert "1.0.3" in proc.stdout  # older than the newest 10, not deployed
    assert "deployed (never deleted)" in proc.stdout
    assert len(client.describe_images(repositoryName=project.repository)["imageDetails"]) == 14

    real = project.inv("cleanup", "--env", "staging", extra_env=aws.env())
    assert real.returncode == 0, real.stderr
    left = {
        t
        for d in client.describe_images(repositoryName=project.repository)["imageDetails"]
        for t in d.get("imageTags", [])
    }
    assert left == {"1.0.1", "1.0.2"} | {f"1.0.{n}" for n in range(5, 15)}
