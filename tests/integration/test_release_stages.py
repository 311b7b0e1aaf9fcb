"""The stages `inv release` adds per environment: scan gate and cleanup for ECR environments,
notifications wherever they are configured. Scan and cleanup run against moto server; the
notifications through the real CLI and the real slack-sdk client to a local HTTP endpoint."""

from __future__ import annotations

import pytest

from shipyard.errors import ScanFailed
from shipyard.pipelines.release import CORE_STEPS, ReleaseOptions, ReleaseState, _order
from shipyard.pipelines.release_stages import _cleanup, _scan, standard_steps
from tests.conftest import MotoServer, Project
from tests.integration.ecr_helpers import Captured, ecr_context, put
from tests.integration.test_ecr_scan import finding, inject
from tests.integration.test_local_release import Local, local  # noqa: F401
from tests.integration.test_notify import FakeSlack, slack_server  # noqa: F401
from tests.support.aws_faults import DeniedFor


def _names(project: Project, env: str) -> list[str]:
    ctx = ecr_context(project.path, env)
    return _order(ReleaseOptions(extra_steps=standard_steps(ctx)))


def test_local_releases_run_the_core_steps_only(project: Project) -> None:
    assert _names(project, "local") == list(CORE_STEPS)


def test_ecr_environments_gate_on_the_scan_before_deploy_and_clean_up_last(
    project: Project,
) -> None:
    # staging wires Slack (deploy/environments/staging.toml): the start message follows version
    assert _names(project, "staging") == [
        "version",
        "notify",
        "build",
        "tag",
        "push",
        "scan",
        "deploy",
        "verify",
        "cleanup",
        "move tags",
    ]


def test_a_high_finding_stops_the_release_at_the_scan_step(
    project: Project, aws: MotoServer
) -> None:
    ctx = ecr_context(project.path)
    ecr = ctx.aws.client("ecr")
    ecr.create_repository(repositoryName=project.repository)
    put(ecr, project.repository, 1, "1.0.0")
    inject(aws, project.repository, "COMPLETE", [finding("CVE-2024-1111", "HIGH")])
    with pytest.raises(ScanFailed):
        _scan(ctx, ReleaseState(version="1.0.0"))


def test_a_clean_scan_lets_the_release_go_on(project: Project, aws: MotoServer) -> None:
    ctx = ecr_context(project.path)
    ecr = ctx.aws.client("ecr")
    ecr.create_repository(repositoryName=project.repository)
    put(ecr, project.repository, 1, "1.0.0")
    inject(aws, project.repository, "COMPLETE", [finding("CVE-2024-2222", "LOW")])
    assert "1 low" in _scan(ctx, ReleaseState(version="1.0.0"))


def test_a_cleanup_that_cannot_run_is_a_warning_not_a_failed_release(
    project: Project, aws: MotoServer
) -> None:
    captured = Captured()
    ctx = ecr_context(project.path, captured=captured)
    ctx.aws.client("ecr").create_repository(repositoryName=project.repository)
    # production's service cannot be read with these credentials: cleanup refuses to guess
    ctx.aws.client("ecs").meta.events.register_first(
        "before-call.ecs.DescribeServices", DeniedFor("gamepulse-production")
    )
    detail = _cleanup(ctx, ReleaseState(version="1.0.0"))
    assert "the release stands" in detail
    assert "cleanup after the release did not finish" in captured.text()


def test_a_local_release_announces_start_and_success_on_slack(
    local: Local,  # noqa: F811
    slack_server: FakeSlack,  # noqa: F811
) -> None:
    secret_path = "/services/T0STAGES/B0STAGES/stagessecretvalue42"
    local.project.append_config(
        "local", '[notify.slack]\nwebhook_url = { env = "SLACK_WEBHOOK_URL" }'
    )
    local.project.commit("notify on slack")
    proc = local.project.inv(
        "release",
        "--env",
        "local",
        "--set",
        "0.4.2",
        extra_env={"SLACK_WEBHOOK_URL": slack_server.url + secret_path},
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    texts = [str(r["payload"].get("text", "")) for r in slack_server.requests]
    assert len(texts) == 2, texts
    assert "started" in texts[0]
    assert "0.4.2" in texts[0]
    assert "succeeded" in texts[1]
    assert "sha256:" in str(slack_server.requests[1]["payload"])
    assert "stagessecretvalue42" not in proc.stdout + proc.stderr
    table = proc.stdout
    assert "notify" in table
    assert "start sent to slack" in table
