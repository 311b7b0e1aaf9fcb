"""The rehearsal of .github/workflows/gamepulse-ci-cd.yml that tests/e2e/test_workflow_rehearsal.py
asserts on (its docstring says what runs, how, and what stands in for what): the `rehearsed`
fixture runs the six events once for the module, in a fresh checkout of a clean clone of this
working tree, against the local registry and moto, and keeps a Snapshot of each run."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import semver

from tests.conftest import REGISTRY_PASSWORD_FILE, REPO, MotoServer, free_port
from tests.support.codedeploy_shim import CodeDeployRecord, codedeploy_deployments_complete
from tests.support.gha import load_workflow
from tests.support.gha_events import Event
from tests.support.gha_origin import Origin
from tests.support.gha_results import JobRun, WorkflowRun
from tests.support.gha_runner import Rehearsal, runner_base_env
from tests.support.moto_rollforward import ecs_rollouts_complete
from tests.support.rehearsal_aws import (
    ACCOUNT,
    CLUSTER,
    PRODUCTION,
    STAGING,
    EcrDataPlane,
    EcsSite,
    LocalRegistry,
    Seeded,
    seed,
    serving_digest,
)

NARROWED = "tests/unit/test_ecs_pure.py"
WORKFLOW = Path(".github") / "workflows" / "gamepulse-ci-cd.yml"
ROLES = {
    "staging": f"arn:aws:iam::{ACCOUNT}:role/gamepulse-staging-deploy",
    "production": f"arn:aws:iam::{ACCOUNT}:role/gamepulse-production-deploy",
}


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
