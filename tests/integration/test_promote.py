"""inv promote against moto server: the digest live in staging is what production gets, the
release tag lands on that same manifest, nothing is rebuilt.

The production deploy itself is the ECS targets' work (tested there); here a recording target
stands in for it so the pipeline's own contract is what is checked: which artifact it hands
over, the lock, verification, rollback and notifications.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import RolledBack, ScanFailed, UsageError
from shipyard.pipelines.promote import PromoteOptions, PromoteResult, run
from shipyard.rollout.model import Serving
from shipyard.targets.base import Artifact
from tests.conftest import MotoServer, Project
from tests.support.memory_target import MemoryTarget
from tests.support.moto_seed import cve, scan_results

REGION = "ap-northeast-2"
SERVER = f"123456789012.dkr.ecr.{REGION}.amazonaws.com"
MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {
        "mediaType": "application/vnd.docker.container.image.v1+json",
        "size": 1234,
        "digest": "sha256:" + "1" * 64,
    },
    "layers": [
        {
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": 5678,
            "digest": "sha256:" + "2" * 64,
        }
    ],
}


def recording_target(url: str | None = None) -> MemoryTarget:
    """production as an in-memory target: the rollout engine (lock, verify gate, undo) is
    real; what serves is the target's own truth."""
    old = Serving(True, "gp:6", "1.4.0", "sha256:old", "1.4.0 serves")
    return MemoryTarget(serving=old, url=url)


def deployed(target: MemoryTarget) -> list[Artifact]:
    return target.artifacts


def ecr(aws: MotoServer) -> Any:
    return boto3.client("ecr", endpoint_url=aws.endpoint, region_name=REGION)


def put(aws: MotoServer, repository: str, tag: str, manifest: dict[str, Any] = MANIFEST) -> str:
    """Push a manifest by API. Its digest is given explicitly, as ECR computes it: moto
    would otherwise give every manifest without real layers the same digest."""
    body = json.dumps(manifest)
    digest = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    ecr(aws).put_image(
        repositoryName=repository, imageManifest=body, imageTag=tag, imageDigest=digest
    )
    return digest


def live_in_staging(
    project: Project, aws: MotoServer, findings: tuple[dict[str, Any], ...] = (cve("CVE-1", "LOW"),)
) -> str:
    """An image live in staging: a settled service whose task definition pins it by digest."""
    ecr(aws).create_repository(repositoryName=project.repository)
    digest = put(aws, project.repository, "1.4.1-develop.3")
    put(aws, project.repository, "sha-abc1234")
    ecs = boto3.client("ecs", endpoint_url=aws.endpoint, region_name=REGION)
    ecs.create_cluster(clusterName="gamepulse-cluster")
    arn = ecs.register_task_definition(
        family="gamepulse-staging",
        containerDefinitions=[
            {
                "name": "gamepulse",
                "image": f"{SERVER}/{project.repository}@{digest}",
                "memory": 128,
            },
            {"name": "otel-collector", "image": "otel/collector:0.1", "memory": 64},
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="gamepulse-cluster",
        serviceName="gamepulse-staging",
        taskDefinition=arn,
        desiredCount=1,
    )
    scan_results(aws.endpoint, project.repository, {"imageDigest": digest}, list(findings))
    return digest


# staging serves the prerelease 1.4.1-develop.3: production gets it only under a named version
RELEASE = "1.4.1"


def ctx_for(project: Project, env: str, **overrides: Any) -> Context:
    config = load_config(env, root=project.path, overrides=overrides, environ={})
    return Context(config=config, root=project.path, console=Console(io.StringIO(), io.StringIO()))


@pytest.fixture(autouse=True)
def settled_services(monkeypatch: pytest.MonkeyPatch) -> None:
    # moto's in-process server reads this when a service is created: its deployment is then
    # COMPLETED (1 of 1 running) instead of forever IN_PROGRESS
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "1")


@pytest.fixture
def failing_service() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(500)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"down")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_promote_deploys_the_exact_staging_digest_and_tags_it(
    project: Project, aws: MotoServer
) -> None:
    digest = live_in_staging(project, aws)
    target = recording_target()
    staging, production = ctx_for(project, "staging"), ctx_for(project, "production")

    result = run(
        staging,
        production,
        PromoteOptions("staging", "production", release_tag=RELEASE, verify=False),
        target_factory=lambda _ctx: target,
    )

    (artifact,) = deployed(target)
    assert artifact.digest == digest
    assert artifact.image == f"{SERVER}/{project.repository}@{digest}"
    assert artifact.version == "1.4.1"
    assert artifact.revision == "abc1234"
    assert target.log[0] == "lock"
    assert target.log[-1] == "unlock"
    tagged = ecr(aws).describe_images(
        repositoryName=project.repository, imageIds=[{"imageTag": "1.4.1"}]
    )["imageDetails"]
    assert tagged[0]["imageDigest"] == digest
    data = result.as_dict()
    assert data["outcome"] == "succeeded"
    assert data["digest"] == digest
    assert data["task_definition_arn"] == "arn:aws:ecs:x:1:task-definition/gp:7"
    assert data["deployment_id"] == "d-ABCDEF123"
    assert data["serving"]["version"] == "1.4.1"
    assert [s["name"] for s in data["steps"]] == ["locate", "tag", "deploy", "verify"]
    assert data["steps"][3]["outcome"] == "skipped"

    again = run(
        staging,
        production,
        PromoteOptions("staging", "production", release_tag=RELEASE, verify=False),
        target_factory=lambda _ctx: target,
    )
    assert again.tag_action == "already there"
    assert deployed(target)[1].digest == digest


def test_promote_never_moves_a_release_tag_to_another_image(
    project: Project, aws: MotoServer
) -> None:
    live_in_staging(project, aws)
    other = dict(MANIFEST, config={**MANIFEST["config"], "digest": "sha256:" + "9" * 64})
    put(aws, project.repository, "1.4.1", other)
    target = recording_target()

    with pytest.raises(UsageError, match="already names"):
        run(
            ctx_for(project, "staging"),
            ctx_for(project, "production"),
            PromoteOptions("staging", "production", release_tag=RELEASE, verify=False),
            target_factory=lambda _ctx: target,
        )
    assert deployed(target) == []


def test_failed_verification_rolls_production_back(
    project: Project, aws: MotoServer, failing_service: str
) -> None:
    live_in_staging(project, aws)
    target = recording_target(failing_service)
    production = ctx_for(
        project,
        "production",
        **{
            "verify.url": failing_service,
            "verify.retries": 0,
            "verify.warmup_seconds": 0,
            "verify.backoff_seconds": 0,
        },
    )
    result = PromoteResult("staging", "production")

    with pytest.raises(RolledBack, match=r"HTTP 500.*1\.4\.0 \(gp:6\) serves again"):
        run(
            ctx_for(project, "staging"),
            production,
            PromoteOptions("staging", "production", release_tag=RELEASE),
            result,
            target_factory=lambda _ctx: target,
        )

    assert target.log.count("undo") == 1
    assert target.serving.version == "1.4.0"
    assert target.records[-1] == ("new", "rolled_back")
    assert result.outcome == "rolled_back"
    outcomes = {s["name"]: s["outcome"] for s in result.as_dict()["steps"]}
    assert outcomes == {"locate": "ok", "tag": "ok", "deploy": "failed", "verify": "not run"}


def test_promote_needs_a_live_service(project: Project, aws: MotoServer) -> None:
    ecr(aws).create_repository(repositoryName=project.repository)
    boto3.client("ecs", endpoint_url=aws.endpoint, region_name=REGION).create_cluster(
        clusterName="gamepulse-cluster"
    )
    with pytest.raises(UsageError, match="service gamepulse-staging not found"):
        run(
            ctx_for(project, "staging"),
            ctx_for(project, "production"),
            PromoteOptions("staging", "production"),
            target_factory=lambda _ctx: recording_target(),
        )


def test_cli_dry_run_shows_the_digest_and_changes_nothing(
    project: Project, aws: MotoServer
) -> None:
    digest = live_in_staging(project, aws)

    proc = project.inv(
        "promote",
        "--from",
        "staging",
        "--to",
        "production",
        "--version",
        RELEASE,
        "--dry-run",
        extra_env=aws.env(),
    )

    assert proc.returncode == 0, proc.stderr
    assert digest in proc.stdout
    assert "(batch_get_image + put_image)" in proc.stdout
    assert "dry run: nothing was changed" in proc.stdout
    tags = ecr(aws).describe_images(repositoryName=project.repository)["imageDetails"][0]
    assert "1.4.1" not in tags.get("imageTags", [])


def test_cli_same_environment_is_a_usage_error(project: Project) -> None:
    proc = project.inv("promote", "--from", "staging", "--to", "staging")
    assert proc.returncode == 2
    assert "--from and --to name the same environment" in proc.stderr


def _refused(project: Project, options: PromoteOptions) -> tuple[Exception, MemoryTarget]:
    target = recording_target()
    with pytest.raises((UsageError, ScanFailed)) as caught:
        run(
            ctx_for(project, "staging"),
            ctx_for(project, "production"),
            options,
            target_factory=lambda _ctx: target,
        )
    assert deployed(target) == []
    assert target.log == []  # refused before the lock: production was never touched
    tags = ecr_tags(project)
    assert RELEASE not in tags
    return caught.value, target


def ecr_tags(project: Project) -> set[str]:
    client = boto3.client("ecr", region_name=REGION)
    details = client.describe_images(repositoryName=project.repository)["imageDetails"]
    return {tag for d in details for tag in d.get("imageTags", [])}


def test_a_prerelease_is_never_promoted_by_its_number_alone(
    project: Project, aws: MotoServer
) -> None:
    live_in_staging(project, aws)
    error, _ = _refused(project, PromoteOptions("staging", "production", verify=False))
    assert "serves the prerelease 1.4.1-develop.3" in str(error)
    assert "--version 1.4.1" in (error.hint or "")  # type: ignore[attr-defined]


def test_promote_refuses_unless_staging_serves_the_digest_this_run_built(
    project: Project, aws: MotoServer
) -> None:
    live_in_staging(project, aws)
    other = "sha256:" + "7" * 64
    error, _ = _refused(
        project,
        PromoteOptions("staging", "production", release_tag=RELEASE, digest=other, verify=False),
    )
    assert f"not {other[:19]}" in str(error)


def test_promote_refuses_an_image_built_from_another_commit(
    project: Project, aws: MotoServer
) -> None:
    digest = live_in_staging(project, aws)
    error, _ = _refused(
        project,
        PromoteOptions(
            "staging", "production", release_tag=RELEASE, commit="def5678" + "0" * 33, verify=False
        ),
    )
    assert "built from abc1234, not def5678" in str(error)
    target = recording_target()
    result = run(
        ctx_for(project, "staging"),
        ctx_for(project, "production"),
        PromoteOptions(
            "staging",
            "production",
            release_tag=RELEASE,
            digest=digest,
            commit="abc1234" + "f" * 33,
            verify=False,
        ),
        target_factory=lambda _ctx: target,
    )
    assert result.outcome == "succeeded"
    assert "checked: digest, commit, scan" in result.as_dict()["steps"][0]["detail"]


def test_an_image_that_fails_the_scan_gate_never_reaches_production(
    project: Project, aws: MotoServer
) -> None:
    live_in_staging(project, aws, findings=(cve("CVE-9", "CRITICAL"),))
    error, _ = _refused(
        project, PromoteOptions("staging", "production", release_tag=RELEASE, verify=False)
    )
    assert isinstance(error, ScanFailed)
    assert "CVE-9" in str(error)
