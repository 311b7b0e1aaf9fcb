"""`inv ci` as a user (or GitHub Actions) types it, in a throwaway project.

The nox stages are exercised against a small noxfile written into the project, never against
this repository's own noxfile: the suite runs inside `nox -s tests`, and `inv ci` starting the
suite again would recurse.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import Project

NOXFILE = """
import nox

nox.options.default_venv_backend = "none"


@nox.session
def lint(session):
    session.log("lint-marker: all clean")


@nox.session
def tests(session):
    session.run("python", "-c", "raise SystemExit('tests-marker: 1 failed')")
"""


def github_env(tmp_path: Path, **extra: str) -> tuple[dict[str, str], Path, Path]:
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    summary.touch()
    output.touch()
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        **extra,
    }
    return env, summary, output


def image_exists(ref: str) -> bool:
    return (
        subprocess.run(
            ["docker", "image", "inspect", ref], capture_output=True, check=False
        ).returncode
        == 0
    )


def test_dry_run_prints_every_stage_and_builds_nothing(
    project: Project, docker_engine: None
) -> None:
    proc = project.inv("ci", "--dry-run")

    assert proc.returncode == 0, proc.stderr
    for stage in (
        "nox -s lint",
        "nox -s typecheck",
        "nox -s tests",
        "hadolint --no-color app/Dockerfile",
        "docker buildx build",
        "docker tag",
        "docker push",
    ):
        assert stage in proc.stdout
    assert "dry run: nothing was changed" in proc.stdout
    assert not image_exists(f"{project.repository}:0.1.0")


def test_deploy_branch_builds_tags_pushes_and_reports_to_github(
    project: Project, registry_password: str, tmp_path: Path
) -> None:
    env, summary, output = github_env(
        tmp_path, GITHUB_REF_NAME="main", GITHUB_REF_TYPE="branch", GITHUB_EVENT_NAME="push"
    )
    proc = project.inv("ci", "--skip", "lint,typecheck,tests", "--json", extra_env=env)

    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["outcome"] == "succeeded"
    assert data["version"] == "0.1.0"
    assert data["pushed"] is True
    assert data["digest"].startswith("sha256:")
    assert set(data) >= {"version", "digest", "task_definition_arn", "deployment_id", "outcome"}
    outcomes = {s["name"]: s["outcome"] for s in data["steps"]}
    assert outcomes == {
        "lint": "skipped",
        "typecheck": "skipped",
        "tests": "skipped",
        "dockerfile": "ok",
        "build": "ok",
        "tag": "ok",
        "push": "ok",
        "scan": "skipped",
    }
    # long logs folded, table in the job summary, outputs for later jobs
    assert "::group::docker buildx build" in proc.stderr
    assert "::endgroup::" in proc.stderr
    assert "| build" in summary.read_text()
    assert "### ci (main)" in summary.read_text()
    outputs = output.read_text()
    assert f"digest={data['digest']}" in outputs
    assert "outcome=succeeded" in outputs
    assert registry_password not in proc.stdout + proc.stderr + summary.read_text()


def test_feature_branch_builds_but_never_pushes(project: Project, docker_engine: None) -> None:
    project.git("checkout", "-q", "-b", "feature/login")

    proc = project.inv("ci", "--skip", "lint,typecheck,tests")

    assert proc.returncode == 0, proc.stderr
    assert "feature/login is not a deploy branch (main, develop)" in proc.stdout
    push_row = next(line for line in proc.stdout.splitlines() if line.startswith("push "))
    assert "skipped" in push_row
    assert image_exists(f"{project.repository}:0.1.0")


def test_dockerfile_finding_fails_with_an_annotation_and_stops(
    project: Project, tmp_path: Path
) -> None:
    dockerfile = project.path / "app" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\nRUN cd /tmp && echo hi\n")
    project.commit("bad dockerfile")
    env, summary, _ = github_env(tmp_path)

    proc = project.inv("ci", "--skip", "lint,typecheck,tests", extra_env=env)

    assert proc.returncode == 1
    assert "::error::" in proc.stderr
    assert "DL3003" in proc.stderr
    assert "Traceback" not in proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    assert "failed" in rows["dockerfile"]
    assert "not run" in rows["build"]
    assert "| dockerfile | " in summary.read_text()


def test_nox_stages_run_in_groups_and_a_failure_names_the_session(
    project: Project, tmp_path: Path
) -> None:
    (project.path / "noxfile.py").write_text(NOXFILE)
    env, _, _ = github_env(tmp_path)

    ok = project.inv("ci", "--only", "lint", extra_env=env)
    assert ok.returncode == 0, ok.stderr
    assert "::group::nox -s lint" in ok.stderr
    assert "lint-marker: all clean" in ok.stderr

    bad = project.inv("ci", "--only", "tests", extra_env=env)
    assert bad.returncode == 1
    assert "::error::nox -s tests failed (exit 1)" in bad.stderr


def test_nested_ci_skips_nox_instead_of_recursing(project: Project, tmp_path: Path) -> None:
    (project.path / "noxfile.py").write_text(NOXFILE)

    proc = project.inv(
        "ci", "--only", "lint,tests", "--json", extra_env={"SHIPYARD_CI_NESTED": "1"}
    )

    assert proc.returncode == 0, proc.stderr
    steps = {s["name"]: s for s in json.loads(proc.stdout)["steps"]}
    assert steps["tests"]["outcome"] == "skipped"
    assert "nested inside inv ci" in steps["tests"]["detail"]


def test_missing_noxfile_and_bad_flags_are_one_line_usage_errors(project: Project) -> None:
    proc = project.inv("ci", "--only", "lint")
    assert proc.returncode == 2
    assert "no noxfile.py" in proc.stderr
    assert "--skip lint,typecheck,tests" in proc.stderr

    bad = project.inv("ci", "--skip", "deploy")
    assert bad.returncode == 2
    assert "--skip: unknown stage 'deploy'" in bad.stderr


def test_ci_summary_tabulates_the_jobs_of_the_run(project: Project, tmp_path: Path) -> None:
    needs = {
        "build": {
            "result": "success",
            "outputs": {"version": "1.4.0", "digest": "sha256:" + "c" * 64},
        },
        "deploy-production": {"result": "failure", "outputs": {}},
        "cleanup": {"result": "skipped", "outputs": {}},
    }
    env, summary, output = github_env(
        tmp_path,
        NEEDS_JSON=json.dumps(needs),
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_REPOSITORY="acme/gamepulse",
        GITHUB_RUN_ID="42",
    )

    proc = project.inv("ci-summary", extra_env=env)

    assert proc.returncode == 0, proc.stderr
    assert "overall: failed" in proc.stdout
    assert "| deploy-production | failure" in summary.read_text()
    assert "(https://github.com/acme/gamepulse/actions/runs/42)" in summary.read_text()
    assert "outcome=failed" in output.read_text()

    missing = project.inv("ci-summary")
    assert missing.returncode == 2
    assert "set NEEDS_JSON to ${{ toJSON(needs) }}" in missing.stderr
