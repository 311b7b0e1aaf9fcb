"""The rules of ECR cleanup one at a time (operations/ecr_cleanup.py): which task definitions
of a service count as deployed and where each was seen, what an INACTIVE or missing service
means, the limits and the refusal for a registry that is not ECR, the reasons `select` gives,
what the result of a run records, and which tables reach the GitHub job summary.

ECS is a botocore Stubber with the real service model where the exact requests matter, and
moto server where a whole run does (two regions, the delete)."""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from shipyard.adapters.ecr import ImageDetail
from shipyard.adapters.ecs_inventory import EcsInventory
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import AwsError, UsageError
from shipyard.operations import ecr_cleanup as ec
from shipyard.operations.ecr_cleanup import EcrCleanupOptions
from tests.conftest import MotoServer, Project
from tests.integration.ecr_helpers import SERVER, ecr_context, put
from tests.support.ecs_stubs import ACCOUNT, CLUSTER, FAMILY, REGION, arn, creds, make_ctx
from tests.support.time_zone import local_time_zone

__all__ = ["creds"]  # the fixture, used by name

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SERVICE_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}"


def image(n: int, *tags: str, age: dt.timedelta = dt.timedelta(days=30)) -> ImageDetail:
    return ImageDetail("sha256:" + f"{n:x}" * 64, tags, NOW - age)


def staging(tmp_path: Path, **overrides: Any) -> Context:
    ctx, _ = make_ctx(tmp_path, "staging", "http://127.0.0.1:9", **overrides)
    return ctx


# -- task definition families ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("taskdef", "family"),
    [
        (arn(FAMILY, 12), FAMILY),
        (f"{FAMILY}:3", FAMILY),  # family:revision, no ARN prefix
        (FAMILY, FAMILY),
        ("", ""),  # a service that names no task definition
    ],
)
def test_the_family_of_a_task_definition_is_its_name_without_the_revision(
    taskdef: str, family: str
) -> None:
    assert ec._family(taskdef) == family


# -- which task definitions of a service count ---------------------------------------------
def recent(stub: Stubber, count: int, arns: list[str]) -> None:
    stub.add_response(
        "list_task_definitions",
        {"taskDefinitionArns": arns},
        {"familyPrefix": FAMILY, "status": "ACTIVE", "sort": "DESC", "maxResults": count},
    )


def test_a_service_counts_its_task_definition_deployments_task_sets_and_recent_revisions(
    tmp_path: Path, creds: None
) -> None:
    ctx = staging(tmp_path)
    service = {
        "serviceName": FAMILY,
        "taskDefinition": arn(FAMILY, 7),
        "deployments": [
            {"status": "PRIMARY", "taskDefinition": arn(FAMILY, 7)},
            {"taskDefinition": arn(FAMILY, 6)},  # no status: still counted
        ],
        "taskSets": [
            {"status": "ACTIVE", "taskDefinition": arn(FAMILY, 5)},
            {"taskDefinition": arn(FAMILY, 4)},
        ],
    }
    with Stubber(ctx.aws.client("ecs")) as stub:
        recent(stub, 3, [arn(FAMILY, 7), arn(FAMILY, 3)])
        found = ec._service_taskdefs(EcsInventory(ctx.aws), service, 3)
        stub.assert_no_pending_responses()
    assert found == [
        (arn(FAMILY, 7), "service task definition"),
        (arn(FAMILY, 7), "deployment PRIMARY"),
        (arn(FAMILY, 6), "deployment ?"),
        (arn(FAMILY, 5), "task set ACTIVE"),
        (arn(FAMILY, 4), "task set ?"),
        (arn(FAMILY, 7), "recent revision (rollback target)"),
        (arn(FAMILY, 3), "recent revision (rollback target)"),
    ]


def test_a_service_that_names_no_task_definition_asks_for_no_revisions(
    tmp_path: Path, creds: None
) -> None:
    """A blue/green service keeps its task definitions in task sets only; without a family
    there is nothing to list (the Stubber has no answer queued, so a request would fail)."""
    ctx = staging(tmp_path)
    service = {"serviceName": FAMILY, "taskSets": [{"taskDefinition": arn(FAMILY, 2)}]}
    with Stubber(ctx.aws.client("ecs")):
        found = ec._service_taskdefs(EcsInventory(ctx.aws), service, 10)
    assert found == [(arn(FAMILY, 2), "task set ?")]


# -- what an environment runs ---------------------------------------------------------------
def taskdef(rev: int, *images: str) -> dict[str, Any]:
    return {
        "taskDefinition": {
            "family": FAMILY,
            "revision": rev,
            "containerDefinitions": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)],
        }
    }


def test_an_environment_runs_what_its_active_services_run_and_names_what_is_missing(
    tmp_path: Path, creds: None
) -> None:
    """An INACTIVE service (deleted, still described) runs nothing and is named, but the
    services after it are still read; a failure ECS reports names a service that is not there."""
    ctx = staging(tmp_path)
    running = "sha256:" + "9" * 64
    ecs = ctx.aws.client("ecs")
    with Stubber(ecs) as stub:
        stub.add_response(
            "describe_services",
            {
                "services": [
                    {"serviceName": "gamepulse-old", "status": "INACTIVE"},
                    {
                        "serviceName": FAMILY,
                        "status": "ACTIVE",
                        "taskDefinition": arn(FAMILY, 7),
                    },
                ],
                "failures": [{"arn": f"{SERVICE_ARN}/gamepulse-ghost", "reason": "MISSING"}],
            },
            {"cluster": CLUSTER, "services": [FAMILY]},
        )
        recent(stub, 10, [arn(FAMILY, 6)])
        stub.add_response(
            "list_tasks", {"taskArns": ["t-1"]}, {"cluster": CLUSTER, "serviceName": FAMILY}
        )
        stub.add_response(
            "describe_tasks",
            {
                "tasks": [
                    {"containers": [{"image": "srv/gamepulse:latest", "imageDigest": running}]}
                ]
            },
            {"cluster": CLUSTER, "tasks": ["t-1"]},
        )
        stub.add_response(
            "describe_task_definition",
            taskdef(7, "srv/gamepulse:1.0.7"),
            {"taskDefinition": arn(FAMILY, 7)},
        )
        stub.add_response(
            "describe_task_definition",
            taskdef(6, "srv/gamepulse@" + running),
            {"taskDefinition": arn(FAMILY, 6)},
        )
        images, missing = ec._environment_images(ctx.config, ctx.aws)
        stub.assert_no_pending_responses()
    assert missing == [
        f"service gamepulse-ghost in {CLUSTER}",
        f"service gamepulse-old in {CLUSTER} (INACTIVE)",
    ]
    assert images == [
        ec.DeployedImage(
            "staging", FAMILY, "running task", "srv/gamepulse:latest", "latest", running
        ),
        ec.DeployedImage(
            "staging",
            FAMILY,
            f"service task definition {FAMILY}:7",
            "srv/gamepulse:1.0.7",
            "1.0.7",
        ),
        ec.DeployedImage(
            "staging",
            FAMILY,
            f"recent revision (rollback target) {FAMILY}:6",
            "srv/gamepulse@" + running,
            None,
            running,
        ),
    ]


def test_an_environment_that_cannot_be_read_refuses_with_ecs_own_hint(
    tmp_path: Path, creds: None
) -> None:
    ctx = staging(tmp_path)
    with Stubber(ctx.aws.client("ecs")) as stub:
        stub.add_client_error("describe_services", "AccessDeniedException", "no")
        with pytest.raises(AwsError) as refused:
            ec._environment_images(ctx.config, ctx.aws)
    assert refused.value.message.startswith(
        "cannot tell what environment staging runs, so nothing is deleted: "
        f"ecs:DescribeServices {CLUSTER}: access denied"
    )
    with Stubber(ctx.aws.client("ecs")) as stub:
        stub.add_client_error("describe_services", "AccessDeniedException", "no")
        with pytest.raises(AwsError) as direct:
            EcsInventory(ctx.aws).services(CLUSTER, [FAMILY])
    assert refused.value.hint == direct.value.hint
    assert refused.value.hint


def test_the_environment_being_cleaned_is_read_with_its_own_settings(
    tmp_path: Path, creds: None
) -> None:
    """`inv cleanup --env staging` with an override reads staging as overridden, not as its
    file says; production, not overridden, as its file says."""
    ctx = staging(tmp_path, **{"target.cluster": "blue-cluster"})
    with Stubber(ctx.aws.client("ecs")) as stub:
        stub.add_client_error(
            "describe_services",
            "ClusterNotFoundException",
            "gone",
            expected_params={"cluster": "gamepulse-cluster", "services": ["gamepulse-production"]},
        )
        stub.add_client_error(
            "describe_services",
            "ClusterNotFoundException",
            "gone",
            expected_params={"cluster": "blue-cluster", "services": [FAMILY]},
        )
        found, warnings = ec.deployed_images(ctx)
        stub.assert_no_pending_responses()
    assert found == []
    assert [w.split(":")[0] for w in warnings] == ["environment production", "environment staging"]
    assert "cluster blue-cluster does not exist" in warnings[1]


@pytest.mark.parametrize(
    ("container", "deployed"),
    [
        ({}, ec.DeployedImage("prod", "svc", "seen", "", None, None)),
        (
            {"image": "srv/app:1.2.3"},
            ec.DeployedImage("prod", "svc", "seen", "srv/app:1.2.3", "1.2.3", None),
        ),
    ],
)
def test_a_container_names_its_image_and_one_without_an_image_names_nothing(
    container: dict[str, Any], deployed: ec.DeployedImage
) -> None:
    assert ec._deployed("prod", "svc", "seen", container) == deployed


def test_a_digest_ecs_resolved_wins_over_the_references_own() -> None:
    own, resolved = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    container = {"image": f"srv/app@{own}"}
    assert ec._deployed("e", "s", "x", container, resolved).digest == resolved
    assert ec._deployed("e", "s", "x", container).digest == own


# -- limits, and a registry that is not ECR ----------------------------------------------------
def test_the_limits_are_the_options_else_the_configs(tmp_path: Path, creds: None) -> None:
    ctx = staging(tmp_path, **{"cleanup.keep_tags": ["latest", "stable"]})
    cfg = ctx.config.cleanup
    rules = ec._rules(ctx, EcrCleanupOptions())
    assert rules.keywords == {
        "keep_releases": cfg.keep_releases,
        "untagged_days": cfg.untagged_days,
        "keep_tags": ["latest", "stable"],
    }
    chosen = ec._rules(ctx, EcrCleanupOptions(keep_releases=2, untagged_days=0)).keywords
    assert (chosen["keep_releases"], chosen["untagged_days"]) == (2, 0)


@pytest.mark.parametrize(("releases", "days"), [(0, 3), (2, -1)])
def test_a_limit_out_of_range_is_refused(
    tmp_path: Path, creds: None, releases: int, days: int
) -> None:
    ctx = staging(tmp_path)
    with pytest.raises(UsageError) as refused:
        ec._rules(ctx, EcrCleanupOptions(keep_releases=releases, untagged_days=days))
    assert refused.value.message == "keep_releases must be at least 1 and untagged_days at least 0"


def test_an_environment_that_does_not_push_to_ecr_is_refused(tmp_path: Path, creds: None) -> None:
    ctx, _ = make_ctx(tmp_path, "local", "http://127.0.0.1:9")
    with pytest.raises(UsageError) as refused:
        ec._ecr_registry(ctx)
    assert refused.value.message == (
        "environment local does not push to ECR (registry.kind = 'oci')"
    )
    assert refused.value.hint == "ECR cleanup runs for environments whose registry.kind is 'ecr'"


# -- the reasons select gives -------------------------------------------------------------------
def test_each_decision_says_why_with_the_tags_or_untagged() -> None:
    latest, young, boundary, old = (
        image(1, "latest", "stable"),
        image(2, age=dt.timedelta(days=1)),
        image(3, age=dt.timedelta(days=7)),
        image(4, "sha-abc"),
    )
    decisions = ec.select(
        [latest, young, boundary, old],
        keep_releases=3,
        untagged_days=7,
        keep_tags=("stable", "latest"),
        now=NOW,
    )
    assert decisions == [
        ec.Decision(latest, True, "keeps tag latest, stable"),
        ec.Decision(young, True, "untagged: younger than 7 days"),
        ec.Decision(boundary, False, "untagged: no release, older than 7 days"),
        ec.Decision(old, False, "sha-abc: no release, older than 7 days"),
    ]


def test_an_index_entry_without_a_digest_names_no_platform_image() -> None:
    child = "sha256:" + "c" * 64
    manifest = {"manifests": [{"digest": child}, {"platform": {"os": "linux"}}, "junk"]}
    assert ec.index_children(manifest) == [child]


# -- what the report shows, and where ---------------------------------------------------------
def test_the_kept_table_counts_young_images_by_age_whatever_their_tags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only what goes reaches the GitHub job summary; the deployed and kept tables are for the
    log. Young images group by their age rule, tags and all."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    doomed = image(1, "0.0.1")
    decisions = (
        ec.Decision(doomed, False, "release 0.0.1 older than the newest 1"),
        ec.Decision(image(2, "sha-abc", "main"), True, "sha-abc, main: younger than 7 days"),
        ec.Decision(image(3), True, "untagged: younger than 7 days"),
    )
    deployed = (ec.DeployedImage("staging", "svc", "running task", "srv/r:1", "1", None),)
    out = io.StringIO()
    ec.show(ec.EcrCleanupResult("srv/r", decisions, deployed, dry_run=True), Console(out, out))
    assert "younger than 7 days         2" in out.getvalue()
    written = summary.read_text()
    assert "### dry run: would delete from srv/r" in written
    assert "deployed (never deleted)" not in written
    assert "kept because" not in written


def test_push_times_show_in_utc_whatever_the_machines_zone() -> None:
    pushed = ImageDetail(
        "sha256:" + "a" * 64, ("0.0.1",), dt.datetime(2026, 1, 2, 23, 30, tzinfo=dt.UTC)
    )
    with local_time_zone("Asia/Seoul"):
        row = ec._row(ec.Decision(pushed, False, "old"))
    assert row[2] == "2026-01-02 23:30"


# -- a whole run ------------------------------------------------------------------------------
def test_a_run_records_its_repository_mode_warnings_time_and_calls(
    project: Project, aws: MotoServer
) -> None:
    repository = project.repository
    ctx = ecr_context(project.path)
    ecr = ctx.aws.client("ecr")
    ecr.create_repository(repositoryName=repository)
    old = put(ecr, repository, 1, "0.0.1")
    put(ecr, repository, 2, "0.0.2")
    options = EcrCleanupOptions(keep_releases=1)
    no_cluster = (
        "environment {0}: cluster gamepulse-cluster does not exist, so nothing is deployed "
        "there (if it should, check the target in deploy/environments/{0}.toml)"
    )
    expected_warnings = tuple(no_cluster.format(e) for e in ("production", "staging"))

    rehearsal = ec.run(ctx, ec.EcrCleanupOptions(keep_releases=1, dry_run=True))
    assert (rehearsal.repository, rehearsal.dry_run) == (f"{SERVER}/{repository}", True)
    assert rehearsal.warnings == expected_warnings
    assert 0 < rehearsal.seconds < 60
    assert (rehearsal.deleted, rehearsal.delete_calls) == ((), 0)

    done = ec.run(ctx, options)
    assert (done.repository, done.dry_run, done.warnings) == (
        f"{SERVER}/{repository}",
        False,
        expected_warnings,
    )
    assert (done.deleted, done.delete_calls) == ((old,), 1)
    assert 0 < done.seconds < 60

    nothing_left = ec.run(ctx, options)
    assert (nothing_left.deleted, nothing_left.delete_calls) == ((), 0)
    assert 0 < nothing_left.seconds < 60


def test_environments_in_other_regions_are_read_in_their_own_region(
    project: Project, aws: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """production's [aws] names another region: its services are read there (its own
    clients), with the variables of the cleaning run, not of this process; staging's still in
    its own."""
    production = project.path / "deploy" / "environments" / "production.toml"
    production.write_text(production.read_text() + '\n[aws]\nregion = "us-east-1"\n')
    monkeypatch.setenv("AWS_REGION", REGION)  # this process': would pull production back
    environ = {k: v for k, v in os.environ.items() if k != "AWS_REGION"}
    ctx = ecr_context(project.path)
    ctx = Context(config=ctx.config, root=ctx.root, console=ctx.console, environ=environ)
    repository = project.repository
    ecr = ctx.aws.client("ecr")
    ecr.create_repository(repositoryName=repository)
    rollback_target = put(ecr, repository, 1, "0.0.1")
    put(ecr, repository, 2, "0.0.2")
    east = ctx.aws.for_region("us-east-1").client("ecs")
    east.create_cluster(clusterName=CLUSTER)
    arn_east = east.register_task_definition(
        family="gamepulse-production",
        containerDefinitions=[
            {"name": "app", "image": f"{SERVER}/{repository}@{rollback_target}", "memory": 128}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    east.create_service(
        cluster=CLUSTER, serviceName="gamepulse-production", taskDefinition=arn_east, desiredCount=0
    )

    home = ctx.aws.client("ecs")  # staging, in this region
    home.create_cluster(clusterName=CLUSTER)
    arn_home = home.register_task_definition(
        family=FAMILY,
        containerDefinitions=[
            {"name": "app", "image": f"{SERVER}/{repository}:0.0.2", "memory": 128}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    home.create_service(
        cluster=CLUSTER, serviceName=FAMILY, taskDefinition=arn_home, desiredCount=0
    )

    result = ec.run(ctx, EcrCleanupOptions(keep_releases=1, dry_run=True))
    kept = {d.image.digest: d.reason for d in result.kept}
    assert kept.get(rollback_target) == "deployed"
    assert sorted({(d.environment, d.image) for d in result.deployed}) == [
        ("production", f"{SERVER}/{repository}@{rollback_target}"),
        ("staging", f"{SERVER}/{repository}:0.0.2"),
    ]
    assert result.warnings == ()


def test_a_reference_pinned_by_digest_keeps_its_digest_not_its_tag(
    project: Project, aws: MotoServer
) -> None:
    """`repo:0.0.2@sha256:...` runs the digest whatever 0.0.2 names now: the image 0.0.2 names
    is an old release like any other, the pinned one is deployed."""
    repository = project.repository
    ctx = ecr_context(project.path)
    ecr, ecs = ctx.aws.client("ecr"), ctx.aws.client("ecs")
    ecr.create_repository(repositoryName=repository)
    pinned = put(ecr, repository, 1, "0.0.1")
    named = put(ecr, repository, 2, "0.0.2")
    put(ecr, repository, 3, "0.0.3")
    ecs.create_cluster(clusterName=CLUSTER)
    reference = f"{SERVER}/{repository}:0.0.2@{pinned}"
    taskdef_arn = ecs.register_task_definition(
        family=FAMILY, containerDefinitions=[{"name": "app", "image": reference, "memory": 128}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=CLUSTER, serviceName=FAMILY, taskDefinition=taskdef_arn, desiredCount=0
    )

    result = ec.run(ctx, EcrCleanupOptions(keep_releases=1, dry_run=True))
    decided = {d.image.digest: (d.keep, d.reason) for d in result.decisions}
    assert decided[pinned] == (True, "deployed")
    assert decided[named] == (False, "release 0.0.2 older than the newest 1")
