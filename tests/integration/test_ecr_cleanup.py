"""ECR cleanup against moto server: 1,000 images, deployed ones among them (read from the live
ECS services of staging and production), batch deletion; Stubber for describe_images paging."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.stub import Stubber

from shipyard.errors import AwsError
from shipyard.operations import ecr_cleanup
from shipyard.operations.ecr_cleanup import EcrCleanupOptions
from tests.conftest import MotoServer, Project
from tests.integration.ecr_helpers import SERVER, Captured, ecr_context, put
from tests.support.aws_faults import DeniedFor


@dataclass
class Fleet:
    releases: dict[str, str]  # version -> digest
    untagged: list[str]
    prereleases: list[str]
    latest: str
    deployed: dict[str, str]  # why -> digest


def _service(ecs: Any, cluster: str, service: str, family: str, *images: list[str]) -> None:
    """Register one revision per image list (the last one is live) and run the service."""
    arn = ""
    for containers in images:
        arn = ecs.register_task_definition(
            family=family,
            containerDefinitions=[
                {"name": f"c{i}", "image": image, "memory": 128}
                for i, image in enumerate(containers)
            ],
        )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=arn, desiredCount=1)


def populate(
    ctx: Any,
    repository: str,
    *,
    production: bool = True,
    releases: int = 600,
    untagged: int = 300,
    prereleases: int = 100,
) -> Fleet:
    """`releases` release images 0.0.1..0.0.N (the newest also `latest`), untagged and
    prerelease images, and ECS services that run some old ones."""
    count = releases
    ecr = ctx.aws.client("ecr")
    ecr.create_repository(repositoryName=repository)
    by_version = {f"0.0.{n}": put(ecr, repository, n, f"0.0.{n}") for n in range(1, count + 1)}
    ecr.put_image(
        repositoryName=repository,
        imageTag="latest",
        imageManifest=ecr.batch_get_image(
            repositoryName=repository, imageIds=[{"imageTag": f"0.0.{count}"}]
        )["images"][0]["imageManifest"],
    )
    young = [put(ecr, repository, 10_000 + n) for n in range(untagged)]
    pre = [
        put(ecr, repository, 20_000 + n, f"0.0.{count + 1}-develop.{n}") for n in range(prereleases)
    ]
    ecs = ctx.aws.client("ecs")
    ecs.create_cluster(clusterName="gamepulse-cluster")
    sidecar = "public.ecr.aws/aws-observability/aws-otel-collector:latest"
    # staging runs an old release by tag
    _service(
        ecs,
        "gamepulse-cluster",
        "gamepulse-staging",
        "gamepulse-staging",
        [f"{SERVER}/{repository}:0.0.5", sidecar],
    )
    deployed = {"staging by tag": by_version["0.0.5"]}
    if production:
        # production runs an old release by digest; its previous revision (the rollback
        # target) an untagged image
        _service(
            ecs,
            "gamepulse-cluster",
            "gamepulse-production",
            "gamepulse-production",
            [f"{SERVER}/{repository}@{young[3]}", sidecar],
            [f"{SERVER}/{repository}@{by_version['0.0.7']}", sidecar],
        )
        deployed["production by digest"] = by_version["0.0.7"]
        deployed["production rollback revision"] = young[3]
    return Fleet(by_version, young, pre, by_version[f"0.0.{count}"], deployed)


def digests(ctx: Any, repository: str) -> set[str]:
    pages = (
        ctx.aws.client("ecr").get_paginator("describe_images").paginate(repositoryName=repository)
    )
    return {d["imageDigest"] for page in pages for d in page["imageDetails"]}


class CallCounter:
    def __init__(self, client: Any) -> None:
        self.calls: list[str] = []
        client.meta.events.register("before-call.ecr", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)


def test_cleanup_keeps_releases_latest_young_and_every_deployed_image(
    project: Project, aws: MotoServer
) -> None:
    repository = project.repository
    images = populate(ecr_context(project.path), repository)
    before = digests(ecr_context(project.path), repository)
    assert len(before) == 1000

    captured = Captured()
    ctx = ecr_context(project.path, captured=captured)
    dry = ecr_cleanup.run(ctx, EcrCleanupOptions(dry_run=True, keep_releases=10, untagged_days=0))
    ecr_cleanup.show(dry, ctx.console)
    assert digests(ctx, repository) == before  # the dry run deleted nothing
    assert len(dry.to_delete) == 987
    text = captured.text()
    assert "would delete" in text
    assert "nothing was changed" in text
    assert "0.0.6" in text  # an old release listed in the table

    ctx = ecr_context(project.path)
    counter = CallCounter(ctx.aws.client("ecr"))
    result = ecr_cleanup.run(ctx, EcrCleanupOptions(keep_releases=10, untagged_days=0))
    assert result.ok
    assert len(result.deleted) == 987
    assert result.delete_calls == 10  # batches of 100
    assert counter.calls.count("BatchDeleteImage") == 10
    left = digests(ctx, repository)
    newest = {images.releases[f"0.0.{n}"] for n in range(591, 601)}
    assert left == newest | set(images.deployed.values())
    for why, digest in images.deployed.items():
        assert digest in left, f"deployed image ({why}) was deleted"
    assert images.latest in left


def test_young_untagged_and_prerelease_images_stay(project: Project, aws: MotoServer) -> None:
    repository = project.repository
    ctx = ecr_context(project.path)
    images = populate(ctx, repository, releases=60, untagged=20, prereleases=10)
    result = ecr_cleanup.run(ctx, EcrCleanupOptions(keep_releases=10, untagged_days=7))
    left = digests(ctx, repository)
    assert set(images.untagged) <= left
    assert set(images.prereleases) <= left
    assert images.releases["0.0.40"] not in left
    assert len(result.deleted) == 60 - 10 - 2


def test_a_service_not_created_yet_runs_nothing_and_the_cleanup_goes_on(
    project: Project, aws: MotoServer
) -> None:
    ctx = ecr_context(project.path)
    images = populate(ctx, project.repository, production=False, releases=30, prereleases=0)
    result = ecr_cleanup.run(ctx, EcrCleanupOptions(keep_releases=10, untagged_days=0))
    assert result.ok
    (warning,) = result.warnings
    assert "environment production: service gamepulse-production" in warning
    assert "nothing is deployed there" in warning
    left = digests(ctx, project.repository)
    assert images.deployed["staging by tag"] in left  # staging's live image is never deleted
    assert {images.releases[f"0.0.{n}"] for n in range(21, 31)} <= left


def test_a_service_that_cannot_be_read_refuses_the_cleanup(
    project: Project, aws: MotoServer
) -> None:
    ctx = ecr_context(project.path)
    populate(ctx, project.repository, releases=30, untagged=5, prereleases=5)
    before = digests(ctx, project.repository)
    ecs = ctx.aws.client("ecs")
    ecs.meta.events.register_first(
        "before-call.ecs.DescribeServices", DeniedFor("gamepulse-production")
    )
    with pytest.raises(AwsError, match="nothing is deleted") as err:
        ecr_cleanup.run(ctx, EcrCleanupOptions(keep_releases=10, untagged_days=0))
    assert "cannot tell what environment production runs" in err.value.message
    assert "access denied" in err.value.message
    assert digests(ctx, project.repository) == before


# -- Stubber: paging (moto returns one page) and ECR's own refusal ------------------------------


@pytest.fixture
def stubbed(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # no ECS environment: this test is about ECR's paging
    for env in ("staging", "production"):
        path = project.path / "deploy" / "environments" / f"{env}.toml"
        text = path.read_text()
        path.write_text(text[: text.index("[target]")] + '[target]\nkind = "local"\n')
    ctx = ecr_context(project.path, AWS_ACCOUNT_ID="123456789012")
    with Stubber(ctx.registry.client) as stubber:  # type: ignore[attr-defined]
        yield ctx, stubber
        stubber.assert_no_pending_responses()


def _detail(n: int, *tags: str) -> dict[str, Any]:
    return {
        "imageDigest": f"sha256:{n:064x}",
        "imageTags": list(tags),
        "imagePushedAt": dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    }


def test_pages_are_followed_and_referenced_platform_images_are_kept(
    stubbed: tuple[Any, Stubber],
) -> None:
    ctx, stub = stubbed
    repo = ctx.config.image.repository
    stub.add_response(
        "describe_images",
        {"imageDetails": [_detail(n, f"1.0.{n}") for n in range(1, 4)], "nextToken": "page-2"},
        {"repositoryName": repo, "registryId": "123456789012", "maxResults": 1000},
    )
    stub.add_response(
        "describe_images",
        {"imageDetails": [_detail(4), _detail(5)]},
        {
            "repositoryName": repo,
            "registryId": "123456789012",
            "maxResults": 1000,
            "nextToken": "page-2",
        },
    )
    stub.add_response(
        "batch_delete_image",
        {
            "imageIds": [{"imageDigest": f"sha256:{1:064x}"}, {"imageDigest": f"sha256:{4:064x}"}],
            "failures": [
                {
                    "imageId": {"imageDigest": f"sha256:{5:064x}"},
                    "failureCode": "ImageReferencedByManifestList",
                    "failureReason": "referenced by an index",
                },
            ],
        },
    )
    captured = Captured()
    result = ecr_cleanup.run(ctx, EcrCleanupOptions(keep_releases=2, untagged_days=1))
    assert len(result.decisions) == 5  # both pages
    assert result.ok  # ImageReferencedByManifestList means: it stays, not: the cleanup failed
    ecr_cleanup.show(result, captured.console)
    assert "ImageReferencedByManifestList" in captured.text()
