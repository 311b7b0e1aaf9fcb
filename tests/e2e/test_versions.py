"""A version names one image forever, through the CLI as CI runs it: versions are computed from
what was released (git tags and the registry's tags), never remembered in version.txt; a
version tag the registry holds never moves to another image; moving tags follow a release only
once it succeeded; `--set` never goes back below what was released."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from shipyard.adapters.registry import Credentials, OciRegistry
from shipyard.secrets import Secret
from tests.conftest import MotoServer, Project
from tests.support.localenv import local_env  # noqa: F401 - fixture

pytestmark = [pytest.mark.docker, pytest.mark.registry]

REGISTRY = "127.0.0.1:5000"
MAIN = {"GITHUB_REF_TYPE": "branch", "GITHUB_REF_NAME": "main", "GITHUB_RUN_NUMBER": "1"}


def registry(password: str) -> OciRegistry:
    return OciRegistry(REGISTRY, Credentials("shipyard", Secret(password)))


def fresh_clone(project: Project, where: Path) -> Project:
    """A new checkout of the project's HEAD, as each CI run gets."""
    subprocess.run(["git", "clone", "-q", str(project.path), str(where)], check=True)
    return Project(where, project.repository, project.env)


def ci_build_push(clone: Project, env: dict[str, str]) -> str:
    """The workflow's build job: inv version --bump auto, then build, tag and push."""
    out = clone.inv("version", "--bump", "auto", "--json", extra_env=env, check=True)
    version = str(json.loads(out.stdout)["version"])
    for step in ("build", "tag", "push"):
        clone.inv(step, extra_env=env, check=True)
    return version


def test_two_fresh_ci_runs_on_main_get_increasing_versions(
    project: Project, tmp_path: Path, registry_password: str
) -> None:
    first = ci_build_push(fresh_clone(project, tmp_path / "run1"), MAIN)
    (project.path / "app" / "README.md").write_text("a change\n")
    project.commit("second commit on main")
    second = ci_build_push(
        fresh_clone(project, tmp_path / "run2"), {**MAIN, "GITHUB_RUN_NUMBER": "2"}
    )
    assert (first, second) == ("0.2.0", "0.3.0")
    assert (project.path / "version.txt").read_text().strip() == "0.1.0"  # never committed back
    tags = registry(registry_password).tags(project.repository)
    assert {"0.2.0", "0.3.0"} <= set(tags)


def test_develop_prereleases_never_repeat(project: Project, tmp_path: Path) -> None:
    develop = {"GITHUB_REF_TYPE": "branch", "GITHUB_REF_NAME": "develop", "GITHUB_RUN_NUMBER": "7"}
    first = ci_build_push(fresh_clone(project, tmp_path / "run1"), develop)
    # the same run number again (a re-run): the counter still moves on
    again = ci_build_push(fresh_clone(project, tmp_path / "run2"), develop)
    later = ci_build_push(
        fresh_clone(project, tmp_path / "run3"), {**develop, "GITHUB_RUN_NUMBER": "9"}
    )
    assert (first, again, later) == ("0.1.1-develop.7", "0.1.1-develop.8", "0.1.1-develop.9")


def test_git_release_tags_count_as_released(project: Project) -> None:
    project.git("tag", "v0.4.0")
    out = project.inv("version", "--bump", "patch", "--print", check=True)
    assert out.stdout.strip() == "0.4.1"


def test_a_version_tag_never_moves_to_another_image(
    project: Project, registry_password: str
) -> None:
    project.inv("build", check=True)
    project.inv("tag", check=True)
    project.inv("push", check=True)
    held = registry(registry_password).manifest(project.repository, "0.1.0")
    assert held is not None
    (project.path / "app" / "handler.sh").write_text(
        (project.path / "app" / "handler.sh").read_text() + "# changed\n"
    )
    project.commit("a change, but version.txt still says 0.1.0")
    project.inv("build", check=True)
    project.inv("tag", check=True)
    refused = project.inv("push")
    assert refused.returncode == 2, refused.stderr
    errors = [ln for ln in refused.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1
    line = errors[0]
    assert f"{project.repository}:0.1.0 already names {held.digest[:19]}" in line
    first_commit = project.git("rev-parse", "HEAD~1")[:7]
    assert f"built from commit {first_commit}" in line
    assert "--bump patch" in line
    after = registry(registry_password).manifest(project.repository, "0.1.0")
    assert after is not None
    assert after.digest == held.digest  # nothing was pushed


def test_set_refuses_to_go_below_what_was_released(
    project: Project, registry_password: str
) -> None:
    project.set_version("0.4.0")
    project.commit("0.4.0")
    for step in ("build", "tag", "push"):
        project.inv(step, check=True)
    down = project.inv("version", "--set", "0.3.0")
    assert down.returncode == 2
    assert "lower than 0.4.0, already released" in down.stderr
    assert (project.path / "version.txt").read_text().strip() == "0.4.0"
    project.inv("version", "--set", "0.3.0", "--allow-downgrade", check=True)
    assert (project.path / "version.txt").read_text().strip() == "0.3.0"
    project.commit("another commit")
    taken = project.inv("version", "--set", "0.4.0", "--allow-downgrade")
    assert taken.returncode == 2
    assert "already holds 0.4.0" in taken.stderr
    assert "choose a version not released yet" in taken.stderr


# -- ECR on moto: the same rules where the registry is ECR ----------------------------------


def _put(aws: MotoServer, repository: str, tag: str, config: str) -> str:
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 10,
                "digest": config,
            },
            "layers": [],
        }
    )
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    ecr = boto3.client("ecr", endpoint_url=aws.endpoint, region_name="ap-northeast-2")
    ecr.put_image(
        repositoryName=repository, imageManifest=manifest, imageTag=tag, imageDigest=digest
    )
    return digest


def _ecr_project(project: Project, aws: MotoServer) -> dict[str, Any]:
    ecr = boto3.client("ecr", endpoint_url=aws.endpoint, region_name="ap-northeast-2")
    ecr.create_repository(repositoryName=project.repository)
    return aws.env()


def test_versions_on_ecr_advance_from_what_it_holds(project: Project, aws: MotoServer) -> None:
    env = {**_ecr_project(project, aws), **MAIN}
    _put(aws, project.repository, "0.2.0", "sha256:" + "a" * 64)
    out = project.inv("version", "--env", "staging", "--bump", "auto", "--print", extra_env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0.3.0"


def test_a_version_tag_on_ecr_never_moves(project: Project, aws: MotoServer) -> None:
    from shipyard.config import load_config
    from shipyard.context import Context
    from shipyard.errors import UsageError
    from shipyard.operations.push import refuse_moved_versions

    env = _ecr_project(project, aws)
    held = _put(aws, project.repository, "0.1.0", "sha256:" + "b" * 64)
    _put(aws, project.repository, "sha-abc1234", "sha256:" + "b" * 64)
    config = load_config("staging", root=project.path, environ=env)
    ctx = Context(config=config, root=project.path, environ=env)
    refuse_moved_versions(ctx, "0.1.0", "sha256:" + "b" * 64)  # the same image: fine
    with pytest.raises(UsageError) as raised:
        refuse_moved_versions(ctx, "0.1.0", "sha256:" + "c" * 64)
    assert raised.value.exit_code == 2
    assert f"already names {held[:19]}, built from commit abc1234" in raised.value.message


@pytest.mark.nginx
def test_moving_tags_follow_a_release_only_once_it_succeeded(
    local_env: Any,  # noqa: F811
    registry_password: str,
) -> None:
    import datetime as dt

    env = local_env()
    env.project.inv("release", "--env", "local", check=True, timeout=180)
    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    reg = registry(registry_password)
    good = reg.manifest(env.project.repository, "0.1.0")
    assert good is not None
    bad = env.project.inv(
        "release", "--env", "local", "--bump", "patch", "--build-arg", "HEALTHY=false", timeout=180
    )
    assert bad.returncode == 1
    dated = reg.manifest(env.project.repository, today)
    assert dated is not None
    assert dated.digest == good.digest  # the failed 0.1.1 did not take the date tag
    assert "move tags" in bad.stdout
    # version.txt now says 0.1.1, whose image failed here: a plain release neither reuses it
    # nor pushes another image under 0.1.1
    again = env.project.inv("release", "--env", "local", timeout=180)
    assert again.returncode == 2, again.stdout + again.stderr
    assert "0.1.1 already names" in again.stderr
    assert env.version() == "0.1.0"
    fixed = env.project.inv("release", "--env", "local", "--bump", "patch", timeout=180)
    assert fixed.returncode == 0, fixed.stderr
    moved = reg.manifest(env.project.repository, today)
    assert moved is not None
    assert moved.digest == reg.manifest(env.project.repository, "0.1.2").digest  # type: ignore[union-attr]
