"""ECR cleanup keeps what actually runs, on moto server (issue 13 items 9 and 10):

- the digest running tasks run, though no tag names it any more: ECS resolved the task
  definition's mutable tag (`latest`) when the tasks started, and the tag has moved since. The
  tasks are moto's own, started by the roll-forward shim (tests/support/moto_rollforward.py) as ECS
  starts them for a deployment; each carries the digest its launch resolved;
- the platform images of a kept multi-arch index, while those of an index that goes are
  deleted with it: the request to ECR names exactly what goes (moto, unlike ECR, would delete
  a platform image an index still references, so nothing here leans on ECR's refusal).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from shipyard.operations import ecr_cleanup
from shipyard.operations.ecr_cleanup import EcrCleanupOptions
from tests.conftest import MotoServer, Project
from tests.integration.ecr_helpers import ACCOUNT, REGION, SERVER, Captured, ecr_context, put
from tests.support.moto_rollforward import ecs_rollouts_complete

CLUSTER = "gamepulse-cluster"
SERVICE = "gamepulse-staging"  # deploy/environments/staging.toml
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digests(ecr: Any, repository: str) -> set[str]:
    pages = ecr.get_paginator("describe_images").paginate(repositoryName=repository)
    return {d["imageDigest"] for page in pages for d in page["imageDetails"]}


def deletions(ecr: Any) -> list[set[str]]:
    """The digests each batch_delete_image request names, as sent."""
    asked: list[set[str]] = []
    ecr.meta.events.register(
        "provide-client-params.ecr.BatchDeleteImage",
        lambda params, **_: asked.append({i["imageDigest"] for i in params["imageIds"]}),
    )
    return asked


def reasons(result: ecr_cleanup.EcrCleanupResult) -> dict[str, tuple[bool, str]]:
    return {d.image.digest: (d.keep, d.reason) for d in result.decisions}


# -- running tasks ---------------------------------------------------------------------------
def start_tasks_resolving(ecs: Any, taskdef: str, digest: str) -> list[str]:
    """Roll the service to `taskdef` as ECS does (the shim starts its RUNNING tasks in moto);
    each task's container runs `digest`, what the tag resolved to at launch."""
    from moto.backends import get_backend

    with ecs_rollouts_complete():
        ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=taskdef)
    backend = get_backend("ecs")[ACCOUNT][REGION]
    running = [
        task
        for task in backend.tasks[CLUSTER].values()
        if task.group == f"service:{SERVICE}" and task.last_status == "RUNNING"
    ]
    for task in running:
        for container in task.containers:
            container.image_digest = digest  # ECS reports it as the container's imageDigest
    return [task.task_arn for task in running]


def test_a_digest_running_tasks_run_is_kept_though_no_tag_names_it_any_more(
    project: Project, aws: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 item 9. staging's task definition names `:latest`; its two running tasks run
    0.0.1's digest (latest named it when they started); latest has moved to 0.0.3 since. With
    keep_releases=1, 0.0.1 is an old release by every rule but one: tasks run it."""
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")
    repository = project.repository
    ctx = ecr_context(project.path)
    ecr, ecs = ctx.aws.client("ecr"), ctx.aws.client("ecs")
    ecr.create_repository(repositoryName=repository)
    running = put(ecr, repository, 1, "0.0.1", "latest")
    middle = put(ecr, repository, 2, "0.0.2")
    ecs.create_cluster(clusterName=CLUSTER)
    first, second = (
        ecs.register_task_definition(
            family=SERVICE,
            containerDefinitions=[
                {
                    "name": "gamepulse",
                    "image": f"{SERVER}/{repository}:latest",
                    "memory": 128,
                    "environment": [{"name": "REVISION", "value": str(n)}],
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        for n in (1, 2)
    )
    ecs.create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition=first, desiredCount=2)
    tasks = start_tasks_resolving(ecs, second, running)
    assert len(tasks) == 2
    newest = put(ecr, repository, 3, "0.0.3", "latest")  # latest moves on
    listed = ecs.describe_tasks(cluster=CLUSTER, tasks=tasks)["tasks"]
    assert {c["imageDigest"] for t in listed for c in t["containers"]} == {running}

    captured = Captured()
    ctx = ecr_context(project.path, captured=captured)
    asked = deletions(ctx.aws.client("ecr"))
    result = ecr_cleanup.run(ctx, EcrCleanupOptions(keep_releases=1, untagged_days=0))
    ecr_cleanup.show(result, ctx.console)

    assert result.ok
    decided = reasons(result)
    assert decided[running] == (True, "deployed")
    assert decided[newest][0] is True
    assert decided[middle] == (False, "release 0.0.2 older than the newest 1")
    assert asked == [{middle}]
    assert digests(ecr, repository) == {running, newest}
    seen = {(d.source, d.digest) for d in result.deployed}
    assert ("running task", running) in seen
    assert "running task" in captured.text()


# -- multi-arch indexes ------------------------------------------------------------------------
def put_oci(ecr: Any, repository: str, doc: dict[str, Any], media: str, tag: str = "") -> str:
    text = json.dumps(doc, separators=(",", ":"))
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    extra = {"imageTag": tag} if tag else {}
    ecr.put_image(
        repositoryName=repository,
        imageManifest=text,
        imageDigest=digest,
        imageManifestMediaType=media,
        **extra,
    )
    return digest


def platform_image(ecr: Any, repository: str, name: str) -> str:
    config = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": 9,
            "digest": config,
        },
        "layers": [],
    }
    return put_oci(ecr, repository, doc, OCI_MANIFEST)


def index(ecr: Any, repository: str, tag: str, children: list[str]) -> str:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "size": 9,
                "digest": child,
                "platform": {"architecture": arch, "os": "linux"},
            }
            for child, arch in zip(children, ("amd64", "arm64"), strict=True)
        ],
    }
    return put_oci(ecr, repository, doc, OCI_INDEX, tag)


def test_the_platform_images_of_a_kept_index_stay_and_those_of_a_deleted_one_go(
    project: Project, aws: MotoServer
) -> None:
    """Issue 13 item 10. 0.0.9 (an index, the newest release: kept) and 0.0.1 (an index, old:
    deleted), each with an amd64 and an arm64 image, untagged and past untagged_days. The kept
    index's platform images stay, named as such; the old index goes with its own."""
    repository = project.repository
    ctx = ecr_context(project.path)
    ecr = ctx.aws.client("ecr")
    ecr.create_repository(repositoryName=repository)
    ctx.aws.client("ecs").create_cluster(clusterName=CLUSTER)  # no service yet: nothing runs
    kept_children = [platform_image(ecr, repository, f"new-{a}") for a in ("amd64", "arm64")]
    kept = index(ecr, repository, "0.0.9", kept_children)
    old_children = [platform_image(ecr, repository, f"old-{a}") for a in ("amd64", "arm64")]
    old = index(ecr, repository, "0.0.1", old_children)

    ctx = ecr_context(project.path)
    asked = deletions(ctx.aws.client("ecr"))
    dry = ecr_cleanup.run(ctx, EcrCleanupOptions(dry_run=True, keep_releases=1, untagged_days=0))
    decided = reasons(dry)
    assert decided[kept] == (True, "among the newest 1 releases")
    for child in kept_children:
        assert decided[child] == (True, f"platform image of kept index {kept[7:19]}")
    assert {d.image.digest for d in dry.to_delete} == {old, *old_children}
    assert asked == []  # a dry run asks ECR for nothing

    result = ecr_cleanup.run(ctx, EcrCleanupOptions(keep_releases=1, untagged_days=0))
    assert result.ok
    assert asked == [{old, *old_children}]
    assert digests(ecr, repository) == {kept, *kept_children}
