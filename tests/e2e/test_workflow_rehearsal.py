"""A rehearsal of .github/workflows/gamepulse-ci-cd.yml: every job's `run:` lines, in job order,
in a fresh checkout of a clean clone of this working tree, with the environment a GitHub run
gives them, against the local registry and moto, for six events in a row:

    run 1  push to main                 version: main's next minor; staging, then production
    run 2  push to main (a new commit)  the next minor again: the versions differ
    run 3  push to develop              X.Y.Z-develop.3 (patch, branch, run number); staging only
    run 4  pull request into main       only the test and CodeQL jobs (and the summary) run
    run 5  release published (v tag)    exactly the tag's version; staging, then production
    run 6  push to main, unhealthy app  staging's verify gate rolls back; nothing runs after it

It asserts that each job's outputs feed the next: build's `version`/`digest` reach
deploy-staging's and integration's VERSION (and every other `${{ needs.X.outputs.Y }}` a step
reads), the digest staging serves is the build's, production serves that same digest, and the
summary job's NEEDS_JSON holds every job's result and outputs.

How it runs (tests/support/gha_runner.py): the workflow is read from the commit each event
names; jobs run one after the other in the order of `needs`, each `if:` evaluated by a real
parser of GitHub's expression language (tests/support/gha.py). Each job gets its own fresh
clone of the origin (actions/checkout: depth 1; the build job's fetch-depth 0 brings all history
and tags) whose `.venv` links a venv scripts/bootstrap.sh finds up to date, so it installs
nothing: this project's own for the test job (the dev tools; it must already match the tree,
the rehearsal never installs into it), and for the jobs whose bootstrap asks for the runtime
dependencies only (SHIPYARD_BOOTSTRAP=build/deploy, the jobs holding AWS credentials) one venv
that bootstrap's own `deploy` profile makes from requirements/runtime.lock when the rehearsal
starts. PYTHONPATH puts each checkout's src/ before the venv's editable install (which points at
another checkout). The steps after bootstrap find `inv`/`nox` only through the line bootstrap
appends to GITHUB_PATH. Every `run:` line runs as a `bash -e` script with GITHUB_ACTIONS,
GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_PATH, GITHUB_ENV, GITHUB_REF/REF_NAME/REF_TYPE/SHA/
RUN_NUMBER/RUN_ID/REPOSITORY/EVENT_NAME/WORKSPACE and RUNNER_TEMP set;
aws-actions/configure-aws-credentials gives the job moto's endpoint and records the role it asked
for (vars.AWS_ROLE_ARN of the job's GitHub environment) and the OIDC subject it would present.

The `rehearsed` fixture that runs the six events, once for the module, is in
tests/support/workflow_rehearsal.py.

What stands in for what, and why:
- `nox -s tests` is the one narrowed line: running this suite inside itself is not possible, so
  the test job runs `nox -s tests -- tests/unit/test_ecs_pure.py` (the session itself, its
  coverage and JUnit reports, the job summary and the upload step are real). `nox -s lint` and
  `nox -s typecheck` run as written, in every run: they take seconds (the six test jobs share
  one mypy cache, MYPY_CACHE_DIR, where each hosted run would start with none).
- ECR's data plane (docker push/pull to <account>.dkr.ecr.<region>.amazonaws.com) does not exist
  in moto. The build job's checkout points staging's `[registry]` at the local registry
  (kind = "oci", 127.0.0.1:5000): its `inv ci --push` builds, tags and pushes for real, and skips
  the scan stage (an OCI registry has no scanner). When the job ends, the manifest it pushed
  (the same bytes, so the same digest, with every tag on it) is put into moto's ECR, with the
  clean basic-scan result ECR gives this busybox image (moto's default result is a made-up HIGH
  finding). Every other job runs the project's own config (registry.kind = "ecr", on moto): the
  staging release reuses the pushed digest, gates on its scan and deploys it; cleanup and
  promote work on moto's ECR. So the scan gate is rehearsed in the staging release, not in
  the build job.
- ECS is moto; rolling rollouts complete through tests/support/moto_rollforward.py's shim,
  CodeDeploy blue/green through tests/support/codedeploy_shim.py (task sets switched as
  CodeDeploy does).
- The environments' URLs are local servers that answer as the sample app's tasks would for the
  image ECS serves at that moment (app/handler.sh's answers, with the APP_VERSION and HEALTHY
  baked into that image, read from the registry's copy of it).
- Slack is a local webhook (the SLACK_WEBHOOK_URL secret of both environments).
- The clone is test data: its image repository is unique, staging's and production's verify
  URLs point at the local servers, their warm-ups are 0 and their targets poll every second.

Not reproduced here (GitHub's side): the hosted runner image (jobs run on this machine with its
engine, registry and apt packages in place, so bootstrap's machine-wide install paths are not
exercised, and all jobs share one Docker engine and one registry where GitHub gives each job a
fresh VM); jobs running in parallel; concurrency groups and cancelling superseded runs;
environment protection rules, production's required reviewers and deployment branches
(production deploys without approval here); OIDC itself (the token, its claims, STS's
AssumeRoleWithWebIdentity and IAM's evaluation of the policies: only the subject a job would
present is computed and checked against deploy/iam/trust-policy.json); the CodeQL analysis;
artifact storage; GitHub's masking of secrets in logs.
"""

from __future__ import annotations

import json
import re

import boto3
import pytest
import semver

from tests.conftest import REPO
from tests.support.rehearsal_aws import REGION
from tests.support.workflow_rehearsal import (
    NARROWED,
    ROLES,
    Rehearsed,
    Snapshot,
    rehearsed,
)

pytestmark = [
    # the first test's setup runs the whole rehearsal (about 2.5 minutes on 2 idle cores)
    pytest.mark.timeout(1200),
    pytest.mark.slow,
    pytest.mark.docker,
    pytest.mark.registry,
    pytest.mark.xdist_group("workflow"),
]

__all__ = ["rehearsed"]  # the fixture

RUNS = ("main 1", "main 2", "develop", "pull request", "release", "main unhealthy")
ALL_JOBS = [
    "test",
    "codeql",
    "build",
    "deploy-staging",
    "integration",
    "deploy-production",
    "cleanup",
    "summary",
]


# -- helpers for the assertions --------------------------------------------------------------------


def snapshot(rehearsed: Rehearsed, label: str) -> Snapshot:
    if label not in rehearsed.runs:
        raise AssertionError(f"run {label!r} did not happen: {rehearsed.error!r}")
    return rehearsed.runs[label]


def assert_succeeded(shot: Snapshot, jobs: list[str]) -> None:
    failed = {n: j.result for n, j in shot.run.jobs.items() if n in jobs and j.result != "success"}
    assert not failed, f"jobs did not succeed: {failed}\n{shot.run.report()}"


def ecr_tags(rehearsed: Rehearsed, endpoint: str, digest: str) -> list[str]:
    ecr = boto3.client(
        "ecr",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret-key-value",
    )
    images = ecr.describe_images(
        repositoryName=rehearsed.repository, imageIds=[{"imageDigest": digest}]
    )["imageDetails"]
    return list(images[0].get("imageTags") or []) if images else []


def assert_outputs_feed_the_deploy(shot: Snapshot, rehearsed: Rehearsed) -> tuple[str, str]:
    """build -> deploy-staging -> integration: the version and digest handed over, and what
    staging serves afterwards. Returns (version, digest)."""
    build = shot.job("build")
    version, digest = build.outputs.get("version", ""), build.outputs.get("digest", "")
    assert semver.Version.is_valid(version), f"build's version output: {build.outputs}"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"build's digest: {build.outputs}"
    ci = build.step("ci")
    assert ci.outputs["version"] == version
    assert ci.outputs["digest"] == digest
    # deploy-staging's VERSION and integration's VERSION come from build's outputs
    release = shot.job("deploy-staging").running("inv release --env staging")
    assert release.env["VERSION"] == version
    assert release.outputs.get("version") == version, release.log
    assert release.outputs.get("digest") == digest, (
        f"deploy-staging released {release.outputs.get('digest')}, build pushed {digest}\n"
        + release.log
    )
    assert "reused" in release.log, "the staging release rebuilt instead of reusing the push"
    verify = shot.job("integration").running("inv verify --env staging")
    assert verify.env["VERSION"] == version
    assert verify.outcome == "success", verify.log
    # what staging serves is the image the build job pushed
    assert shot.staging == digest
    return version, digest


def assert_production_serves(shot: Snapshot, rehearsed: Rehearsed, digest: str) -> None:
    production = shot.job("deploy-production")
    assert production.result == "success", production.log()
    promote = production.ran("inv promote --from staging --to production")
    assert promote.outputs.get("digest") == digest, promote.log
    assert promote.outputs.get("outcome") == "succeeded", promote.log
    assert shot.production == digest, "production does not serve the digest staging got"
    # one CodeDeploy blue/green deployment, run to Succeeded, with the new revision
    (dep_id,) = shot.deployments
    dep = rehearsed.codedeploy.deployments[dep_id]
    assert dep.stages == ["Created", "InProgress", "Baking", "Succeeded"], dep
    assert dep.task_definition == promote.outputs.get("task_definition_arn")
    assert promote.outputs.get("deployment_id") == dep_id


def _endpoint(rehearsed: Rehearsed) -> str:
    return rehearsed.data_plane.endpoint


# -- the runs ----------------------------------------------------------------------------------


def test_the_rehearsal_ran_every_event(rehearsed: Rehearsed) -> None:
    assert rehearsed.error is None, f"the rehearsal stopped: {rehearsed.error!r}"
    assert tuple(rehearsed.runs) == RUNS
    for shot in rehearsed.runs.values():
        assert list(shot.run.jobs) == ALL_JOBS  # the workflow's jobs, in the order of needs


@pytest.mark.parametrize("label", [*RUNS])
def test_the_test_job_lints_typechecks_tests_and_keeps_its_reports(
    rehearsed: Rehearsed, label: str
) -> None:
    test = snapshot(rehearsed, label).job("test")
    for line in ("scripts/bootstrap.sh", "nox -s lint", "nox -s typecheck", "nox -s tests"):
        step = test.running(line)
        assert step.outcome == "success", f"{line}:\n{step.log[-4000:]}"
    tests = test.running("nox -s tests")
    assert tests.replaced == f"nox -s tests -- {NARROWED}"
    assert "### tests" in tests.summary  # the counts and coverage in the job summary
    assert test.artifacts["test-reports"] == ["reports/junit.xml", "reports/coverage.xml"]
    assert test.result == "success"
    # bootstrap put the checkout's .venv/bin on GITHUB_PATH; nothing else did
    assert test.workspace is not None
    assert test.path == [str(test.workspace / ".venv" / "bin")]


def test_push_to_main_twice_releases_two_minor_versions_to_staging_and_production(
    rehearsed: Rehearsed,
) -> None:
    versions = []
    previous_production = rehearsed.seeded.live_digest
    for label in ("main 1", "main 2"):
        shot = snapshot(rehearsed, label)
        assert_succeeded(shot, ALL_JOBS)
        version, digest = assert_outputs_feed_the_deploy(shot, rehearsed)
        assert_production_serves(shot, rehearsed, digest)
        assert digest != previous_production
        previous_production = digest
        versions.append(semver.Version.parse(version))
        # the release tag is on the same manifest in ECR (nothing was rebuilt or pushed again)
        assert str(version) in ecr_tags(rehearsed, _endpoint(rehearsed), digest)
    first, second = versions
    assert first == rehearsed.version_txt.bump_minor()  # main: the next minor
    assert second == first.bump_minor()  # a fresh checkout still never reuses a version
    assert first.prerelease is None
    assert second.prerelease is None


def test_push_to_develop_releases_a_prerelease_to_staging_only(rehearsed: Rehearsed) -> None:
    shot = snapshot(rehearsed, "develop")
    assert_succeeded(shot, [j for j in ALL_JOBS if j != "deploy-production"])
    version, _digest = assert_outputs_feed_the_deploy(shot, rehearsed)
    released = semver.Version.parse(snapshot(rehearsed, "main 2").job("build").outputs["version"])
    assert semver.Version.parse(version) == released.bump_patch().replace(
        prerelease=f"develop.{shot.run.event.run_number}"
    )
    production = shot.job("deploy-production")
    assert production.result == "skipped"
    assert production.if_value is False
    assert shot.deployments == []
    assert shot.production == snapshot(rehearsed, "main 2").production  # untouched


def test_a_pull_request_only_tests(rehearsed: Rehearsed) -> None:
    shot = snapshot(rehearsed, "pull request")
    ran = {n for n, j in shot.run.jobs.items() if j.result != "skipped"}
    assert ran == {"test", "codeql", "summary"}
    assert_succeeded(shot, ["test", "codeql", "summary"])
    for name in ("build", "deploy-staging", "integration", "deploy-production", "cleanup"):
        job = shot.job(name)
        assert job.steps == []
        assert job.outputs == {}
    assert shot.job("build").if_value is False  # its own if: (not an upstream failure)
    assert shot.job("deploy-production").if_value is False
    assert shot.deployments == []
    develop = snapshot(rehearsed, "develop")
    assert (shot.staging, shot.production) == (develop.staging, develop.production)
    test = shot.job("test")
    assert test.step("actions/checkout").notes[0].startswith("checked out refs/pull/4/merge")


def test_a_published_release_deploys_exactly_its_tag_to_production(rehearsed: Rehearsed) -> None:
    shot = snapshot(rehearsed, "release")
    event = shot.run.event
    assert event.ref.startswith("refs/tags/v")
    assert event.ref_type == "tag"
    assert_succeeded(shot, ALL_JOBS)
    version, digest = assert_outputs_feed_the_deploy(shot, rehearsed)
    assert f"v{version}" == event.ref_name
    assert_production_serves(shot, rehearsed, digest)
    assert version in ecr_tags(rehearsed, _endpoint(rehearsed), digest)
    build = shot.job("build")
    assert build.running("inv version --env staging --bump auto").outcome == "success"
    assert build.running("inv version --env staging --set").outcome == "skipped"
    # every step of every job saw the tag as GitHub sets it for a release
    for job in shot.run.jobs.values():
        for step in job.steps:
            if step.kind == "run" and step.outcome != "skipped":
                assert step.github["GITHUB_REF"] == event.ref
                assert step.github["GITHUB_REF_TYPE"] == "tag"
                assert step.github["GITHUB_REF_NAME"] == f"v{version}"
                assert step.github["GITHUB_EVENT_NAME"] == "release"
                assert step.github["GITHUB_SHA"] == event.sha


def test_a_release_that_fails_in_staging_goes_no_further(rehearsed: Rehearsed) -> None:
    """The image answers 500 on /health: staging's verify gate rolls staging back, the job
    fails, and nothing after it runs: no integration, no cleanup, no production."""
    shot = snapshot(rehearsed, "main unhealthy")
    before = snapshot(rehearsed, "release")
    assert_succeeded(shot, ["test", "codeql", "build", "summary"])
    staging = shot.job("deploy-staging")
    assert staging.result == "failure"
    release = staging.running("inv release --env staging")
    assert release.exit_code == 1, release.log
    assert release.outputs.get("outcome") == "rolled_back", release.log
    assert release.outputs.get("digest") == shot.job("build").outputs["digest"]
    assert staging.running("inv lock --env staging --release").outcome == "success"
    assert shot.staging == before.staging  # what served before serves again
    for name in ("integration", "cleanup", "deploy-production"):
        assert shot.job(name).result == "skipped", name
    assert shot.production == before.production
    assert shot.deployments == []
    summary = shot.job("summary").running("inv ci-summary")
    assert summary.outputs.get("outcome") == "failed"
    assert any("ROLLED BACK" in m.get("text", "") for m in shot.slack), shot.slack


@pytest.mark.parametrize("label", ["main 1", "main 2", "develop", "release"])
def test_each_job_assumes_the_role_of_its_environment(rehearsed: Rehearsed, label: str) -> None:
    shot = snapshot(rehearsed, label)
    trust = json.loads((REPO / "deploy" / "iam" / "trust-policy.json").read_text())
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    wanted_sub = condition["token.actions.githubusercontent.com:sub"]
    expected = {
        "build": "staging",
        "deploy-staging": "staging",
        "cleanup": "staging",
        "deploy-production": "production",
    }
    for name, job in shot.run.jobs.items():
        if job.result == "skipped":
            continue
        if name not in expected:
            assert job.credentials == [], f"{name} has no business with AWS"
            continue
        (creds,) = job.credentials
        environment = expected[name]
        assert job.environment == environment
        assert creds.role == ROLES[environment], f"{name} assumed {creds.role}"
        assert creds.region == REGION
        sub = wanted_sub.replace("{{github_repository}}", rehearsed.origin.repository).replace(
            "{{environment}}", environment
        )
        assert creds.subject == sub, f"{name}: the role's trust policy would refuse {creds}"


NEEDS_OUTPUT = re.compile(r"^\$\{\{\s*needs\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}$")


@pytest.mark.parametrize("label", ["main 1", "main 2", "develop", "release"])
def test_every_output_a_step_reads_is_what_the_needed_job_gave(
    rehearsed: Rehearsed, label: str
) -> None:
    """Read from the workflow itself: every `env:` of a step that is exactly
    `${{ needs.<job>.outputs.<name> }}` got that job's output, and it was not empty."""
    shot = snapshot(rehearsed, label)
    checked = []
    for name, job in shot.run.workflow["jobs"].items():
        ran = shot.job(name)
        if ran.result == "skipped":
            continue
        for index, step in enumerate(job.get("steps", [])):
            done = ran.steps[index]
            for key, value in (step.get("env") or {}).items():
                match = NEEDS_OUTPUT.match(str(value).strip())
                if not match or done.outcome == "skipped":
                    continue
                source, output = match.groups()
                given = shot.job(source).outputs.get(output)
                assert given, f"{source} gave no {output!r} for {name}: {shot.job(source).outputs}"
                assert done.env[key] == given, f"{name} / {done.name}: {key}"
                checked.append(f"{source}.{output} -> {name}.{key}")
    assert "build.version -> deploy-staging.VERSION" in checked
    assert "build.version -> integration.VERSION" in checked


@pytest.mark.parametrize("label", [*RUNS])
def test_the_summary_sees_every_job(rehearsed: Rehearsed, label: str) -> None:
    shot = snapshot(rehearsed, label)
    summary = shot.job("summary")
    assert summary.result == "success", summary.log()
    step = summary.running("inv ci-summary")
    needs = json.loads(step.env["NEEDS_JSON"])
    others = [j for j in ALL_JOBS if j != "summary"]
    assert list(needs) == others
    for name in others:
        job = shot.job(name)
        assert needs[name] == {"result": job.result, "outputs": job.outputs}
    build = shot.job("build")
    if build.result == "success":
        assert build.outputs["version"] in step.summary
        assert build.outputs["digest"] in step.summary
    overall = "failed" if any(needs[n]["result"] == "failure" for n in needs) else "succeeded"
    assert step.outputs.get("outcome") == overall


@pytest.mark.parametrize("label", ["main 1", "develop", "release"])
def test_releases_are_announced_on_slack(rehearsed: Rehearsed, label: str) -> None:
    shot = snapshot(rehearsed, label)
    version = shot.job("build").outputs.get("version", "?")
    texts = [m.get("text", "") for m in shot.slack]
    succeeded = [t for t in texts if "succeeded" in t and version in t]
    environments = 2 if shot.job("deploy-production").result != "skipped" else 1
    assert len(succeeded) == environments, texts


def test_jobs_holding_aws_credentials_run_without_the_dev_tools(rehearsed: Rehearsed) -> None:
    """The workflow's promise: a job that assumes an AWS role bootstraps the runtime
    dependencies only; here such a job's checkout links the venv bootstrap's own `deploy`
    profile made, and its steps succeeded with it."""
    shot = snapshot(rehearsed, "main 1")
    runtime = rehearsed.venvs.runtime
    assert runtime is not None, "no job asks bootstrap for the runtime dependencies only"
    assert not any((runtime / "bin" / tool).exists() for tool in ("nox", "pytest", "moto_server"))
    for name, job in shot.run.jobs.items():
        if job.credentials:
            assert rehearsed.venvs.for_job(name) == runtime, f"{name} has the dev tools"
            assert job.result == "success", job.log()
            assert job.workspace is not None
            assert (job.workspace / ".venv").resolve() == runtime.resolve()


def test_the_build_job_sees_all_history_and_the_others_one_commit(rehearsed: Rehearsed) -> None:
    shot = snapshot(rehearsed, "main 2")
    for name, job in shot.run.jobs.items():
        if job.result == "skipped":
            continue
        note = job.step("actions/checkout").notes[0]
        depth = "all" if name == "build" else "1"
        assert note.endswith(f"(depth {depth})"), f"{name}: {note}"
