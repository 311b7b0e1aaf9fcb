"""`inv release --env staging` end to end, as the workflow's deploy job runs it after the build
job pushed the version: the registry already holds this version built from this commit, so
the release reuses that digest (no build), gates on its scan, deploys it to ECS, verifies the
environment URL and cleans up. AWS is moto in server mode (ECS rollouts completed by the shim
of tests/support/moto_rollforward.py); the environment URL is a real local HTTP server."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from typing import Any

import boto3
import pytest

from tests.conftest import MotoServer, Project
from tests.e2e.test_ecs_cli import ACCOUNT, REGION, App, put_image, seed_staging, url  # noqa: F401
from tests.integration.test_ecr_scan import finding
from tests.support.moto_rollforward import ecs_rollouts_complete


def inject(aws: MotoServer, repository: str, digest: str, findings: list[dict[str, Any]]) -> None:
    """Scan results for one image (by digest) through moto's static findings API."""
    result = {
        "registryId": ACCOUNT,
        "repositoryName": repository,
        "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE", "description": "complete"},
        "imageScanFindings": {"findings": findings, "findingSeverityCounts": {}},
    }
    body = json.dumps({"results": [result], "region": REGION}).encode()
    req = urllib.request.Request(
        f"{aws.endpoint}/moto-api/static/ecr/scan-finding-results",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=10).read()


def _staging(project: Project, aws: MotoServer, url: str) -> tuple[dict[str, str], str]:  # noqa: F811
    _, ecr = seed_staging(project, aws, url, "1.1.0")
    project.commit("staging answers on a local server")
    # what CI's build job leaves behind: the version and the commit tag on one manifest
    sha = project.git("rev-parse", "HEAD")[:7]
    digest = put_image(ecr, project.repository, "1.2.0")
    manifest = ecr.batch_get_image(
        repositoryName=project.repository, imageIds=[{"imageTag": "1.2.0"}]
    )["images"][0]["imageManifest"]
    ecr.put_image(repositoryName=project.repository, imageManifest=manifest, imageTag=f"sha-{sha}")
    return {**aws.env(), "AWS_ACCOUNT_ID": ACCOUNT}, digest


def test_a_staging_release_reuses_the_pushed_digest_and_deploys_it(
    project: Project,
    aws: MotoServer,
    url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")
    App.version = "1.2.0"
    env, digest = _staging(project, aws, url)
    inject(aws, project.repository, digest, [finding("CVE-2024-3333", "LOW")])
    docker_images_before = _local_images(project.repository)

    with ecs_rollouts_complete():
        proc = project.inv("release", "--env", "staging", "--set", "1.2.0", "--json", extra_env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["outcome"] == "succeeded"
    assert result["digest"] == digest
    assert result["task_definition_arn"].endswith(":2")
    steps = {s["name"]: s for s in result["steps"]}
    assert steps["build"]["detail"].startswith("reused")
    assert steps["tag"]["outcome"] == "skipped"
    assert steps["push"]["outcome"] == "skipped"
    assert steps["scan"]["outcome"] == "ok"
    assert steps["verify"]["outcome"] == "ok"
    # production's service is not created yet: it runs nothing, and staging's cleanup goes on
    assert steps["cleanup"]["outcome"] == "ok"
    assert "deleted" in steps["cleanup"]["detail"]
    missing = "environment production: service gamepulse-production in gamepulse-cluster"
    assert missing in proc.stderr
    # SLACK_WEBHOOK_URL is not set here: one line says so, nothing fails
    assert proc.stderr.count("notifications: slack is off (SLACK_WEBHOOK_URL is not set)") == 1
    assert _local_images(project.repository) == docker_images_before  # nothing was built

    ecs = boto3.client("ecs", endpoint_url=aws.endpoint, region_name=REGION)
    service = ecs.describe_services(cluster="gamepulse-cluster", services=["gamepulse-staging"])
    live = service["services"][0]["taskDefinition"]
    image = ecs.describe_task_definition(taskDefinition=live)["taskDefinition"][
        "containerDefinitions"
    ][0]["image"]
    assert image.endswith(f"@{digest}")


def test_a_blocking_finding_stops_the_staging_release_before_deploy(
    project: Project,
    aws: MotoServer,
    url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")
    env, digest = _staging(project, aws, url)
    inject(aws, project.repository, digest, [finding("CVE-2024-4444", "CRITICAL")])
    with ecs_rollouts_complete():
        proc = project.inv("release", "--env", "staging", "--set", "1.2.0", extra_env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "CVE-2024-4444" in proc.stdout + proc.stderr
    table = proc.stdout
    assert "scan" in table
    deploy_row = next(line for line in table.splitlines() if line.startswith("deploy"))
    assert "skipped" in deploy_row or "not run" in deploy_row
    ecs = boto3.client("ecs", endpoint_url=aws.endpoint, region_name=REGION)
    families = ecs.list_task_definitions(familyPrefix="gamepulse-staging")["taskDefinitionArns"]
    assert len(families) == 1  # nothing was registered


def _local_images(repository: str) -> list[str]:
    out = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return sorted(r for r in out.split() if repository in r)
