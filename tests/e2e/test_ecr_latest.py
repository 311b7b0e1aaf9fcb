"""`latest` with ECR: a multi-platform build pushes it itself (it is planned with the other
tags), and a repository that refuses moving tags is named before anything is pushed."""

from __future__ import annotations

from tests.conftest import MotoServer, Project


def _immutable_but_for_dates(project: Project) -> None:
    path = project.path / "deploy" / "environments" / "staging.toml"
    text = path.read_text().replace(
        'tag_mutability = "MUTABLE"',
        'tag_mutability = "IMMUTABLE_WITH_EXCLUSION"\nmutable_tags = ["20*"]',
    )
    path.write_text(text)


def test_a_multi_platform_build_plans_latest_among_the_pushed_tags(
    project: Project, aws: MotoServer
) -> None:
    proc = project.inv(
        "build",
        "--env",
        "staging",
        "--platform",
        "linux/amd64,linux/arm64",
        "--latest",
        "--dry-run",
        extra_env=aws.env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{project.repository}:latest" in proc.stdout
    assert "--push" in proc.stdout


def test_push_latest_to_a_repository_that_refuses_moving_tags_fails_before_pushing(
    project: Project, aws: MotoServer
) -> None:
    _immutable_but_for_dates(project)
    proc = project.inv("push", "--env", "staging", "--latest", extra_env=aws.env())
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "latest" in proc.stderr
    assert "tag_mutability" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "pushing" not in proc.stderr
