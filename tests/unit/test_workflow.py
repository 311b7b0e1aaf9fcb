"""The GitHub Actions workflow is thin, pinned, OIDC-only and lint-clean.

Besides the shape checks, every `inv …` line in it is parsed against the real Invoke
collection (task and flags exist) and every `nox -s …` against the noxfile's sessions, so a
renamed task or flag breaks this test instead of the first real run on GitHub.
"""

from __future__ import annotations

import ast
import inspect
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, VENV_BIN, need

WORKFLOW = REPO / ".github" / "workflows" / "gamepulse-ci-cd.yml"
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def flow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as True
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(flow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in flow["jobs"].items() for step in job.get("steps", [])]


def run_lines(flow: dict[str, Any]) -> list[tuple[str, str]]:
    return [(job, step["run"]) for job, step in steps(flow) if "run" in step]


def test_triggers(flow: dict[str, Any]) -> None:
    on = flow["on"]
    assert on["push"]["branches"] == ["main", "develop"]
    assert "pull_request" in on
    assert on["release"]["types"] == ["published"]
    inputs = on["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"version", "environment"}
    assert inputs["environment"]["options"] == ["staging", "production"]


def test_jobs_follow_the_gamepulse_plan(flow: dict[str, Any]) -> None:
    assert list(flow["jobs"]) == [
        "test",
        "codeql",
        "build",
        "deploy-staging",
        "integration",
        "deploy-production",
        "cleanup",
        "summary",
    ]
    codeql = [s["uses"].split("@")[0] for s in flow["jobs"]["codeql"]["steps"] if "uses" in s]
    assert "github/codeql-action/init" in codeql
    assert "github/codeql-action/analyze" in codeql
    # pull requests only test: everything that publishes or deploys needs build, which
    # never runs for a pull request
    assert "pull_request" not in flow["jobs"]["build"]["if"]
    assert flow["jobs"]["summary"]["if"] == "always()"


def test_every_run_step_is_one_inv_nox_or_bootstrap_line(flow: dict[str, Any]) -> None:
    bad = [
        (job, run)
        for job, run in run_lines(flow)
        if "\n" in run.strip()
        or not (run.startswith(("inv ", "nox ")) or run.strip() == "scripts/bootstrap.sh")
    ]
    assert not bad, f"run steps that are not a single inv/nox/bootstrap line: {bad}"


def test_every_job_runs_on_a_github_hosted_runner(flow: dict[str, Any]) -> None:
    assert {name: job["runs-on"] for name, job in flow["jobs"].items()} == {
        name: "ubuntu-latest" for name in flow["jobs"]
    }


def test_every_job_that_runs_shipyard_bootstraps_first(flow: dict[str, Any]) -> None:
    for name, job in flow["jobs"].items():
        runs = [step["run"].strip() for step in job["steps"] if "run" in step]
        if runs:
            assert runs[0] == "scripts/bootstrap.sh", name
            assert runs.count("scripts/bootstrap.sh") == 1, name


def test_nothing_is_suppressed_and_nothing_is_pip_installed_outside_bootstrap() -> None:
    text = WORKFLOW.read_text()
    assert "zizmor: ignore" not in text
    assert "pip-install" not in text


def test_the_test_job_keeps_junit_and_coverage_reports(flow: dict[str, Any]) -> None:
    (upload,) = [s for s in flow["jobs"]["test"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert upload["if"] == "always()"
    assert upload["with"]["path"].split() == ["reports/junit.xml", "reports/coverage.xml"]


def test_no_expression_inside_run(flow: dict[str, Any]) -> None:
    assert not [run for _, run in run_lines(flow) if "${{" in run]
    assert "github.event." not in "".join(run for _, run in run_lines(flow))


def test_every_uses_is_pinned_to_a_commit_with_the_version_in_a_comment() -> None:
    lines = [line.strip() for line in WORKFLOW.read_text().splitlines()]
    uses = [line for line in lines if line.startswith(("uses:", "- uses:"))]
    assert uses
    for line in uses:
        ref, _, comment = line.split("uses:", 1)[1].partition("#")
        assert SHA_PIN.match(ref.strip()), f"not pinned to a full commit SHA: {line}"
        assert re.match(r"^\s*v\d+(\.\d+)*", comment), f"no version comment: {line}"


def test_checkout_never_persists_credentials(flow: dict[str, Any]) -> None:
    checkouts = [s for _, s in steps(flow) if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == len(flow["jobs"])
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)


def test_aws_only_through_oidc(flow: dict[str, Any]) -> None:
    text = WORKFLOW.read_text()
    assert "aws-access-key-id" not in text
    assert "AWS_SECRET_ACCESS_KEY" not in text
    assert flow["permissions"] == {}
    for name, job in flow["jobs"].items():
        creds = [
            s
            for s in job.get("steps", [])
            if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
        ]
        if creds:
            assert creds[0]["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
            assert job["permissions"]["id-token"] == "write", name
            # the trust policy pins `sub` to an environment: a job assuming the role needs one
            assert job.get("environment"), name
        else:
            assert "id-token" not in job.get("permissions", {}), name


def test_timeouts_everywhere(flow: dict[str, Any]) -> None:
    assert all(isinstance(job.get("timeout-minutes"), int) for job in flow["jobs"].values())


def test_deploys_queue_per_environment_and_are_never_cancelled(flow: dict[str, Any]) -> None:
    assert flow["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    for job, env in (("deploy-staging", "staging"), ("deploy-production", "production")):
        spec = flow["jobs"][job]
        assert spec["environment"]["name"] == env
        assert spec["concurrency"] == {"group": f"deploy-{env}", "cancel-in-progress": False}
        release = [s for s in spec["steps"] if s.get("run", "").startswith("inv lock ")]
        assert release, f"{job} has no lock-release step"
        assert release[-1]["if"] == "always()"
        assert f"--env {env}" in release[-1]["run"]


def test_production_is_blue_green_and_promotes_instead_of_rebuilding(flow: dict[str, Any]) -> None:
    from shipyard.config import load_config

    assert load_config("production", root=REPO).target.kind == "ecs-bluegreen"
    prod = [run for job, run in run_lines(flow) if job == "deploy-production"]
    assert any(run.startswith("inv promote --from staging --to production") for run in prod)
    assert not any(" build" in run or run.startswith("inv ci") for run in prod)


def _nox_sessions() -> set[str]:
    tree = ast.parse((REPO / "noxfile.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any("session" in ast.unparse(d) for d in node.decorator_list)
    }


def _task_flags() -> dict[str, set[str]]:
    from shipyard.tasks import namespace

    flags: dict[str, set[str]] = {}
    for name in namespace.task_names:
        body = namespace[name].body
        params = list(inspect.signature(body).parameters)[1:]
        flags[name] = {"--" + p.strip("_").replace("_", "-") for p in params}
    return flags


def test_every_inv_and_nox_line_names_real_tasks_flags_and_sessions(flow: dict[str, Any]) -> None:
    tasks, sessions = _task_flags(), _nox_sessions()
    problems = []
    for job, run in run_lines(flow):
        argv = shlex.split(run)
        if argv == ["scripts/bootstrap.sh"]:
            continue
        if argv[0] == "nox":
            if argv[2] not in sessions:
                problems.append(f"{job}: nox session {argv[2]!r} is not in noxfile.py")
            continue
        task = argv[1]
        if task not in tasks:
            problems.append(f"{job}: `inv {task}` is not a task")
            continue
        for arg in argv[2:]:
            if arg.startswith("--") and arg.split("=")[0] not in tasks[task]:
                problems.append(f"{job}: `inv {task}` has no flag {arg}")
    assert not problems, "the workflow calls what does not exist:\n" + "\n".join(problems)


def test_actionlint_and_zizmor_find_nothing() -> None:
    actionlint = shutil.which("actionlint") or str(VENV_BIN / "actionlint")
    zizmor = shutil.which("zizmor") or str(VENV_BIN / "zizmor")
    need(Path(actionlint).exists() and Path(zizmor).exists(), "actionlint and zizmor")
    rel = str(WORKFLOW.relative_to(REPO))
    lint = subprocess.run([actionlint, rel], cwd=REPO, capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    audit = subprocess.run(
        [zizmor, "--offline", "--min-severity", "low", rel],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "No findings to report" in audit.stdout + audit.stderr


def test_every_base_image_is_made_by_bootstrap_or_pinned_by_digest() -> None:
    """A hosted build job must never pull a name that only exists where bootstrap made it:
    `localhost/…` resolves only to the local image store (bootstrap makes it in the job),
    anything else must be pinned by digest."""
    bootstrap = (REPO / "scripts" / "bootstrap.sh").read_text()
    for dockerfile in REPO.rglob("Dockerfile*"):
        if ".venv" in dockerfile.parts:
            continue
        for line in dockerfile.read_text().splitlines():
            if not line.upper().startswith("FROM "):
                continue
            image = line.split()[1]
            if image.startswith("localhost/"):
                assert f"BASE_IMAGE={image}" in bootstrap, (dockerfile, image)
            else:
                assert "@sha256:" in image, (dockerfile, image)


def test_production_names_each_needed_jobs_result_and_promotes_this_runs_digest(
    flow: dict[str, Any],
) -> None:
    job = flow["jobs"]["deploy-production"]
    assert set(job["needs"]) == {"build", "deploy-staging", "integration"}
    condition = job["if"]
    assert "contains(needs.*.result" not in condition  # a skipped job is not a failure
    for needed in job["needs"]:
        assert f"needs.{needed}.result == 'success'" in condition
    runs = {step["run"]: step.get("env", {}) for step in job["steps"] if "run" in step}
    automatic = next(run for run in runs if "--digest" in run)
    assert '--commit "$GITHUB_SHA"' in automatic
    assert runs[automatic]["DIGEST"] == "${{ needs.build.outputs.digest }}"
    manual = next(run for run in runs if "--version" in run)
    assert '--commit "$GITHUB_SHA"' in manual
    assert "inputs.version != ''" in condition


def test_manual_runs_only_build_and_deploy_from_release_refs(flow: dict[str, Any]) -> None:
    build = flow["jobs"]["build"]["if"]
    dispatch = build[build.index("workflow_dispatch") :]
    for ref in ("refs/heads/main", "refs/heads/develop"):
        assert f"github.ref == '{ref}'" in dispatch
    assert "startsWith(github.ref, 'refs/tags/v')" in dispatch
    production = flow["jobs"]["deploy-production"]["if"]
    manual = production[production.index("workflow_dispatch") :]
    assert "refs/heads/develop" not in manual
