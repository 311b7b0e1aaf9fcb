"""The foundation tasks as a user types them: `inv version/build/tag/push` in a subprocess.
Failures give a non-zero exit and one line saying what is wrong and how to fix it, with no
traceback unless --debug."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Project, free_port

# -- errors ----------------------------------------------------------------------------------


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1] == errors[0]
    for needle in needles:
        assert needle in errors[0]
    return errors[0]


def assert_debug_shows_traceback(project: Project, *args: str, **kw: object) -> None:
    proc = project.inv(*args, "--debug", **kw)  # type: ignore[arg-type]
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_unknown_environment(project: Project) -> None:
    for task in ("version", "build", "tag", "push"):
        proc = project.inv(task, "--env", "moon")
        assert_one_line_error(proc, 2, "unknown environment 'moon'", "local, production, staging")
    assert_debug_shows_traceback(project, "build", "--env", "moon")


def test_missing_dockerfile(project: Project) -> None:
    (project.path / "app" / "Dockerfile").unlink()
    proc = project.inv("build")
    assert_one_line_error(proc, 2, "no Dockerfile at app/Dockerfile", "image.dockerfile")
    assert_debug_shows_traceback(project, "build")


def test_a_checkout_with_no_commits(project: Project) -> None:
    shutil.rmtree(project.path / ".git")
    project.git("init", "-q", "-b", "main")
    proc = project.inv("build")
    assert_one_line_error(proc, 2, "no commits yet", "commit first")
    assert_one_line_error(project.inv("version", "--bump", "auto"), 2, "no commits yet")


@pytest.mark.usefixtures("docker_engine")
def test_a_stopped_docker_engine(project: Project, tmp_path: Path) -> None:
    dead = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    for task in ("build", "tag", "push"):
        proc = project.inv(task, extra_env=dead)
        assert_one_line_error(proc, 1, "the Docker engine is not answering", "dockerd")
    assert_debug_shows_traceback(project, "build", extra_env=dead)


@pytest.mark.usefixtures("docker_engine")
def test_an_unreachable_registry(project: Project) -> None:
    port = free_port()  # nothing listens there
    project.append_config("local", "")
    config = project.path / "deploy" / "environments" / "local.toml"
    config.write_text(config.read_text().replace("127.0.0.1:5000", f"127.0.0.1:{port}"))
    project.inv("build", check=True)
    project.inv("tag", check=True)
    proc = project.inv("push")
    assert_one_line_error(proc, 1, f"cannot reach registry 127.0.0.1:{port}", "is it running?")
    assert_debug_shows_traceback(project, "push")


@pytest.mark.usefixtures("docker_engine")
def test_a_registry_that_refuses_the_login(project: Project, registry_password: str) -> None:
    wrong = "not-the-password-" + registry_password[:4]
    config = project.path / "deploy" / "environments" / "local.toml"
    text = config.read_text()
    start = text.index("password = ")
    end = text.index("\n", start)
    config.write_text(
        text[:start] + 'password = { env = "SHIPYARD_TEST_REGISTRY_PW" }' + text[end:]
    )
    project.inv("build", check=True)
    project.inv("tag", check=True)
    proc = project.inv("push", extra_env={"SHIPYARD_TEST_REGISTRY_PW": wrong})
    line = assert_one_line_error(proc, 1, "refused the login for user 'shipyard'", "password")
    assert wrong not in proc.stdout + proc.stderr
    assert wrong not in line
    debug = project.inv("push", "--debug", extra_env={"SHIPYARD_TEST_REGISTRY_PW": wrong})
    assert "Traceback" in debug.stderr
    assert wrong not in debug.stdout + debug.stderr
    # the reference, not a value, is named when the variable is missing
    missing = project.inv("push")
    assert_one_line_error(missing, 2, "secret env:SHIPYARD_TEST_REGISTRY_PW", "export")


def test_an_invalid_config_names_file_key_and_expectation(project: Project) -> None:
    project.append_config("local", "[image]\nplatforms = 'linux/amd64'")
    proc = project.inv("build", "--dry-run")
    assert_one_line_error(
        proc, 2, "deploy/environments/local.toml: image.platforms:", "valid list", "'linux/amd64'"
    )


@pytest.mark.usefixtures("docker_engine")
def test_multi_platform_is_planned_and_refused_with_how_to_enable(project: Project) -> None:
    platforms = "linux/amd64,linux/arm64"
    plan = project.inv("build", "--platform", platforms, "--dry-run", check=True).stdout
    assert f"--platform {platforms}" in plan
    assert "--push" in plan
    assert f"--tag 127.0.0.1:5000/{project.repository}:0.1.0" in plan
    assert "docker buildx create --use --driver docker-container" in plan
    proc = project.inv("build", "--platform", platforms)
    assert_one_line_error(
        proc, 1, f"cannot build for {platforms.replace(',', ', ')}", "driver 'docker'",
        "docker buildx create --use --driver docker-container",
    )  # fmt: skip
    assert_one_line_error(project.inv("build", "--platform", "arm64"), 2, "is not os/arch")


# -- precedence through the CLI ------------------------------------------------------------------


def test_a_flag_beats_the_environment_variable(project: Project) -> None:
    env = {"ECR_REPOSITORY": "from-env"}
    by_env = project.inv("tag", "--dry-run", extra_env=env, check=True).stdout
    assert "127.0.0.1:5000/from-env:0.1.0" in by_env
    by_flag = project.inv(
        "tag", "--dry-run", "--repository", "from-flag", extra_env=env, check=True
    )
    assert "127.0.0.1:5000/from-flag:0.1.0" in by_flag.stdout
    assert "from-env" not in by_flag.stdout


# -- versions --------------------------------------------------------------------------------


def version_txt(project: Project) -> str:
    return (project.path / "version.txt").read_text()


def test_version_prints_bumps_sets_and_prints_without_writing(project: Project) -> None:
    assert project.inv("version", check=True).stdout.strip() == "0.1.0"
    assert project.inv("version", "--bump", "patch", check=True).stdout.strip() == "0.1.0 -> 0.1.1"
    assert version_txt(project) == "0.1.1\n"
    project.inv("version", "--bump", "minor", check=True)
    assert version_txt(project) == "0.2.0\n"
    project.inv("version", "--bump", "major", check=True)
    assert version_txt(project) == "1.0.0\n"
    assert (
        project.inv("version", "--bump", "minor", "--print", check=True).stdout.strip() == "1.1.0"
    )
    assert version_txt(project) == "1.0.0\n"
    project.inv("version", "--set", "v3.2.1", check=True)
    assert version_txt(project) == "3.2.1\n"


def test_bump_auto_follows_the_branch_and_tags(project: Project) -> None:
    project.set_version("1.4.0")
    project.commit("release 1.4.0")
    assert project.inv("version", "--bump", "auto", "--print", check=True).stdout.strip() == "1.5.0"

    project.git("checkout", "-q", "-b", "develop")
    commits = int(project.git("rev-list", "--count", "HEAD"))
    out = project.inv("version", "--bump", "auto", "--print", check=True).stdout.strip()
    assert out == f"1.4.1-develop.{commits}"

    # GitHub Actions' variables win over the local checkout
    github = {"GITHUB_REF_TYPE": "branch", "GITHUB_REF_NAME": "develop", "GITHUB_RUN_NUMBER": "7"}
    project.git("checkout", "-q", "--detach")
    out = project.inv("version", "--bump", "auto", "--print", extra_env=github, check=True)
    assert out.stdout.strip() == "1.4.1-develop.7"

    project.git("tag", "v2.3.4")
    assert project.inv("version", "--bump", "auto", "--print", check=True).stdout.strip() == "2.3.4"
    tag_run = {"GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v2.3.5", "GITHUB_RUN_NUMBER": "9"}
    out = project.inv("version", "--bump", "auto", "--print", extra_env=tag_run, check=True)
    assert out.stdout.strip() == "2.3.5"
    project.inv("version", "--bump", "auto", extra_env=tag_run, check=True)
    assert version_txt(project) == "2.3.5\n"


def test_invalid_set_value_leaves_the_file_untouched(project: Project) -> None:
    before = (project.path / "version.txt").read_bytes()
    for bad in ("1.x", "1.2", "latest"):
        proc = project.inv("version", "--set", bad)
        assert_one_line_error(
            proc, 2, f"--set: {bad!r} is not a semantic version", "MAJOR.MINOR.PATCH"
        )
    assert (project.path / "version.txt").read_bytes() == before
    assert_one_line_error(project.inv("version", "--bump", "sideways"), 2, "unknown --bump")


def test_invalid_version_file_is_named_and_left_untouched(project: Project) -> None:
    (project.path / "version.txt").write_text("one point two\n")
    for args in (("version",), ("version", "--bump", "patch"), ("build", "--dry-run")):
        proc = project.inv(*args)
        assert_one_line_error(proc, 2, "version.txt: 'one point two' is not a semantic version")
    assert version_txt(project) == "one point two\n"


def test_version_dry_run_shows_the_plan_and_writes_nothing(project: Project) -> None:
    proc = project.inv("version", "--bump", "minor", "--dry-run", check=True)
    assert "version.txt: 0.1.0 -> 0.2.0" in proc.stdout
    assert "dry run: nothing was changed" in proc.stdout
    assert version_txt(project) == "0.1.0\n"
