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
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import semver

from tests.conftest import REGISTRY_PASSWORD_FILE, REPO, MotoServer, free_port
from tests.support.codedeploy_shim import CodeDeployRecord, codedeploy_deployments_complete
from tests.support.gha import load_workflow
from tests.support.gha_runner import (
    Event,
    JobRun,
    Origin,
    Rehearsal,
    WorkflowRun,
    runner_base_env,
)
from tests.support.moto_rollforward import ecs_rollouts_complete
from tests.support.rehearsal_aws import (
    ACCOUNT,
    CLUSTER,
    PRODUCTION,
    REGION,
    STAGING,
    EcrDataPlane,
    EcsSite,
    LocalRegistry,
    Seeded,
    seed,
    serving_digest,
)

pytestmark = [
    # the first test's setup runs the whole rehearsal (about 2.5 minutes on 2 idle cores)
    pytest.mark.timeout(1200),
    pytest.mark.slow,
    pytest.mark.docker,
    pytest.mark.registry,
    pytest.mark.xdist_group("workflow"),
]

NARROWED = "tests/unit/test_ecs_pure.py"
WORKFLOW = Path(".github") / "workflows" / "gamepulse-ci-cd.yml"
ROLES = {
    "staging": f"arn:aws:iam::{ACCOUNT}:role/gamepulse-staging-deploy",
    "production": f"arn:aws:iam::{ACCOUNT}:role/gamepulse-production-deploy",
}
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


# -- the rehearsal, once for the module ---------------------------------------------------------


@dataclass
class Snapshot:
    """What one run left: its jobs, and what serves afterwards."""

    run: WorkflowRun
    staging: str | None  # the digest each environment serves after the run
    production: str | None
    deployments: list[str]  # CodeDeploy deployments the run created
    slack: list[dict[str, Any]]  # messages the run posted

    def job(self, name: str) -> JobRun:
        return self.run.jobs[name]


@dataclass
class Rehearsed:
    repository: str
    origin: Origin
    seeded: Seeded
    version_txt: semver.Version
    codedeploy: CodeDeployRecord
    data_plane: EcrDataPlane
    venvs: RunnerVenvs
    runs: dict[str, Snapshot] = field(default_factory=dict)
    error: BaseException | None = None


class SlackHook:
    """An incoming webhook: records each message, answers as Slack does ('ok')."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                hook.messages.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/rehearsal"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: expected {old!r} (the test data edit no longer applies)"
    path.write_text(text.replace(old, new, 1))


def _test_data(repository: str, staging_url: str, production_url: str) -> Any:
    def edit(root: Path) -> None:
        envs = root / "deploy" / "environments"
        _replace(
            root / "deploy" / "shipyard.toml",
            'repository = "gamepulse"',
            f'repository = "{repository}"',
        )
        _replace(envs / "staging.toml", "https://staging.gamepulse.example.com", staging_url)
        _replace(envs / "staging.toml", "warmup_seconds = 30", "warmup_seconds = 0")
        _replace(envs / "staging.toml", "timeout_seconds = 900", "timeout_seconds = 120")
        _replace(envs / "staging.toml", "[target]\n", "[target]\npoll_seconds = 1\n")
        with (envs / "staging.toml").open("a") as staging:  # the integration job's k6 check
            staging.write('\n[loadtest]\nvus = 2\nduration = "2s"\n')
        _replace(envs / "production.toml", "https://gamepulse.example.com", production_url)
        _replace(envs / "production.toml", "warmup_seconds = 60", "warmup_seconds = 0")
        _replace(envs / "production.toml", "timeout_seconds = 1800", "timeout_seconds = 120")
        _replace(envs / "production.toml", "[target]\n", "[target]\npoll_seconds = 1\n")

    return edit


def _registry_of_the_build_job(password_file: Path) -> Any:
    """The build job's checkout pushes to the local registry (ECR's data plane is not here)."""

    def prepare(job: str, workspace: Path) -> None:
        if job != "build":
            return
        staging = workspace / "deploy" / "environments" / "staging.toml"
        _replace(
            staging,
            '[registry]\nkind = "ecr"\ntag_mutability = "MUTABLE"\n',
            '[registry]\nkind = "oci"\nurl = "127.0.0.1:5000"\nusername = "shipyard"\n'
            f'password = {{ file = "{password_file}" }}\n',
        )

    return prepare


def bootstrap_profiles(workflow: dict[str, Any]) -> dict[str, str]:
    """job -> the SHIPYARD_BOOTSTRAP profile its scripts/bootstrap.sh step asks for."""
    profiles = {}
    for name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            if str(step.get("run", "")).strip() == "scripts/bootstrap.sh":
                profiles[name] = str((step.get("env") or {}).get("SHIPYARD_BOOTSTRAP", "full"))
    return profiles


@dataclass(frozen=True)
class RunnerVenvs:
    """The .venv each job's checkout links, so that bootstrap finds it up to date and installs
    nothing: this project's own (the dev tools) for the `full` profile; for the profiles that
    install only the runtime dependencies (`build`, `deploy`: the jobs holding AWS
    credentials), one venv scripts/bootstrap.sh itself made once per rehearsal, so those jobs
    run without the dev tools, as on GitHub."""

    dev: Path
    runtime: Path | None
    profiles: dict[str, str]

    def for_job(self, job: str) -> Path:
        if self.profiles.get(job, "full") == "full" or self.runtime is None:
            return self.dev
        return self.runtime

    def link(self, job: str, workspace: Path) -> dict[str, str]:
        """Link the job's venv; git ignores the link as it ignores the real directory. The
        venv's editable install points at another checkout's src/ (this project's, which
        others may be editing while the rehearsal runs): PYTHONPATH puts the job's own src/
        first, as the `pip install -e .` of bootstrap in a fresh checkout would."""
        (workspace / ".venv").symlink_to(self.for_job(job))
        with (workspace / ".git" / "info" / "exclude").open("a") as fh:
            fh.write(".venv\n")
        return {"PYTHONPATH": str(workspace / "src")}


def _bootstrap(checkout: Path, profile: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["scripts/bootstrap.sh", *args],
        cwd=checkout,
        env={**runner_base_env(), "SHIPYARD_BOOTSTRAP": profile},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def prepare_venvs(origin: Origin, workflow: dict[str, Any], scratch: Path) -> RunnerVenvs:
    """This project's venv must already match the tree (it is shared: the rehearsal never
    installs into it); the runtime venv is made by bootstrap's `deploy` profile."""
    profiles = bootstrap_profiles(workflow)
    check = scratch / "venv-check"
    subprocess.run(["git", "clone", "-q", str(origin.path), str(check)], check=True)
    (check / ".venv").symlink_to(REPO / ".venv")
    planned = _bootstrap(check, "full", "--plan")
    venv = [line for line in planned.stdout.splitlines() if line.startswith("python venv")]
    if planned.returncode != 0 or not venv or not venv[0].endswith("-> nothing"):
        pytest.fail(
            f"{REPO / '.venv'} does not match this tree's dependencies, and the rehearsal "
            f"never installs into it: run scripts/bootstrap.sh in {REPO} first "
            f"({venv or planned.stdout + planned.stderr})"
        )
    runtime = None
    if any(profile != "full" for profile in profiles.values()):
        made = scratch / "runtime-venv"
        subprocess.run(["git", "clone", "-q", str(origin.path), str(made)], check=True)
        proc = _bootstrap(made, "deploy")
        if proc.returncode != 0 or not (made / ".venv" / "bin" / "inv").is_file():
            pytest.fail(f"bootstrap's deploy profile made no venv:\n{proc.stdout}{proc.stderr}")
        runtime = made / ".venv"
    return RunnerVenvs(REPO / ".venv", runtime, profiles)


def _remove_local_images(repository: str) -> None:
    listed = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    refs = [r for r in listed if r.rsplit(":", 1)[0].rsplit("/", 1)[-1] == repository]
    if refs:
        subprocess.run(["docker", "image", "rm", "-f", *refs], capture_output=True, check=False)


@pytest.fixture(scope="module")
def rehearsed(
    moto_server: MotoServer, registry_password: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rehearsed]:
    if shutil.which("docker") is None:
        pytest.fail("the Docker engine is not available")
    moto_server.reset()
    work = tmp_path_factory.mktemp("rehearsal")
    repository = f"wr{uuid.uuid4().hex[:10]}"
    registry = LocalRegistry("127.0.0.1:5000", "shipyard", registry_password)
    staging_site = EcsSite(registry, repository, STAGING, free_port()).start()
    production_site = EcsSite(registry, repository, PRODUCTION, free_port()).start()
    slack = SlackHook()
    data_plane = EcrDataPlane(registry, moto_server.endpoint, repository)
    try:
        with (
            pytest.MonkeyPatch.context() as mp,
            ecs_rollouts_complete(),
            codedeploy_deployments_complete() as record,
        ):
            # moto's ECS services report their tasks running (read when a service is made)
            mp.setenv("MOTO_ECS_SERVICE_RUNNING", "2")
            origin = Origin.from_working_tree(
                REPO,
                work / "origin",
                edit=_test_data(repository, staging_site.url, production_site.url),
            )
            venvs = prepare_venvs(origin, load_workflow(origin.path / WORKFLOW), work)
            version_txt = semver.Version.parse((origin.path / "version.txt").read_text().strip())
            seeded = seed(moto_server.endpoint, repository, live=str(version_txt))
            rehearsal = _rehearsal(origin, work, moto_server, slack, data_plane, venvs)
            state = Rehearsed(repository, origin, seeded, version_txt, record, data_plane, venvs)
            try:
                _rehearse(state, rehearsal, slack)
            except Exception as exc:  # the runs so far still get their assertions
                state.error = exc
            yield state
    finally:
        staging_site.stop()
        production_site.stop()
        slack.stop()
        _remove_local_images(repository)


def _rehearsal(
    origin: Origin,
    work: Path,
    moto: MotoServer,
    slack: SlackHook,
    data_plane: EcrDataPlane,
    venvs: RunnerVenvs,
) -> Rehearsal:
    build_registry = _registry_of_the_build_job(REGISTRY_PASSWORD_FILE)

    def prepare(job: str, workspace: Path) -> dict[str, str]:
        build_registry(job, workspace)
        return venvs.link(job, workspace)

    def after_job(job: JobRun) -> None:
        digest = job.outputs.get("digest")
        if job.name == "build" and digest:
            data_plane.mirror(digest)

    return Rehearsal(
        origin,
        work=work / "runs",
        # one mypy cache for the six runs' test jobs (a hosted runner starts cold each time):
        # `nox -s typecheck` still checks every run's tree, in a second instead of ten
        base_env={**runner_base_env(), "MYPY_CACHE_DIR": str(work / "mypy-cache")},
        vars={env: {"AWS_ROLE_ARN": role} for env, role in ROLES.items()},
        secrets={env: {"SLACK_WEBHOOK_URL": slack.url} for env in ROLES},
        aws_env={
            "AWS_ENDPOINT_URL": moto.endpoint,
            "AWS_ACCESS_KEY_ID": "ASIAREHEARSALKEY",
            "AWS_SECRET_ACCESS_KEY": "rehearsal-secret-key",
        },
        account_id=ACCOUNT,
        run_overrides={"nox -s tests": f"nox -s tests -- {NARROWED}"},
        prepare_workspace=prepare,
        after_job=after_job,
    )


def _rehearse(state: Rehearsed, rehearsal: Rehearsal, slack: SlackHook) -> None:
    origin = state.origin

    def run(label: str, event: Event) -> None:
        deployments_before = set(state.codedeploy.deployments)
        messages_before = len(slack.messages)
        result = rehearsal.run(event)
        state.runs[label] = Snapshot(
            result,
            serving_digest(CLUSTER, STAGING),
            serving_digest(CLUSTER, PRODUCTION),
            [d for d in state.codedeploy.deployments if d not in deployments_before],
            slack.messages[messages_before:],
        )

    first = origin.sha("main")
    run("main 1", Event.push("main", first, run_number=1))
    second = origin.commit("second commit", {README: _readme(origin, "main", "second commit")})
    run("main 2", Event.push("main", second, run_number=2))
    develop = origin.commit(
        "work on develop", {README: _readme(origin, "main", "develop")}, branch="develop"
    )
    run("develop", Event.push("develop", develop, run_number=3))
    feature = {README: _readme(origin, "main", "feature")}
    origin.commit("a feature", feature, branch="feature/x")
    merge = origin.pull_request(4, "feature/x", "main")
    run("pull request", Event.pull_request(4, merge, "feature/x", "main", run_number=4))
    release = _next_release(state)
    tagged = origin.tag(f"v{release}", "main")
    run("release", Event.release(f"v{release}", tagged, run_number=5))
    # a build whose /health answers 500 (the sample app's HEALTHY build argument)
    dockerfile = origin.read("app/Dockerfile", "main")
    assert "ARG HEALTHY=true" in dockerfile
    sick = {"app/Dockerfile": dockerfile.replace("ARG HEALTHY=true", "ARG HEALTHY=false")}
    unhealthy = origin.commit("an unhealthy build", sick, branch="main")
    run("main unhealthy", Event.push("main", unhealthy, run_number=6))


README = "app/README.md"


def _readme(origin: Origin, ref: str, line: str) -> str:
    return origin.read(README, ref) + f"\n{line}\n"


def _next_release(state: Rehearsed) -> semver.Version:
    """A release above everything released so far (what a maintainer would tag)."""
    versions = [
        semver.Version.parse(s.job("build").outputs["version"])
        for s in state.runs.values()
        if s.job("build").outputs.get("version")
    ]
    return max([state.version_txt, *versions]).bump_minor()


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
