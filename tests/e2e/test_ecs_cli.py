"""The ECS environment through the CLI, as a user types it: inv diff, deploy, status, lock,
rollback --env staging, against moto in server mode (rollouts completed by the shim, see
tests/support/moto_rollforward.py) and a real local HTTP server as the environment URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from tests.conftest import MotoServer, Project
from tests.support.moto_rollforward import ecs_rollouts_complete
from tests.support.moto_rollforward import push_image as put_image

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"


class App(BaseHTTPRequestHandler):
    version = "0.1.0"

    def do_GET(self) -> None:
        body = b"ok" if self.path.startswith("/health") else self.version.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def seed_staging(project: Project, aws: MotoServer, url: str, live: str) -> tuple[Any, Any]:
    """staging.toml pointed at `url`; in moto, the cluster, the repository and the staging
    service running `live` (a succeeded release). Returns the ECS and ECR clients."""
    staging = project.path / "deploy" / "environments" / "staging.toml"
    staging.write_text(
        staging.read_text()
        .replace("https://staging.gamepulse.example.com", url)
        .replace("warmup_seconds = 30", "warmup_seconds = 0")
    )
    ecs = boto3.client("ecs", endpoint_url=aws.endpoint, region_name=REGION)
    ecr = boto3.client("ecr", endpoint_url=aws.endpoint, region_name=REGION)
    ecs.create_cluster(clusterName="gamepulse-cluster")
    ecr.create_repository(repositoryName=project.repository)
    old = put_image(ecr, project.repository, live)
    first = ecs.register_task_definition(
        family="gamepulse-staging",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
        containerDefinitions=[{"name": "gamepulse", "image": f"x@{old}"}],
        tags=[
            {"key": "shipyard:version", "value": live},
            {"key": "shipyard:outcome", "value": "succeeded"},
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="gamepulse-cluster",
        serviceName="gamepulse-staging",
        taskDefinition=first,
        desiredCount=2,
    )
    return ecs, ecr


def test_diff_deploy_status_lock_rollback_on_staging(
    project: Project, aws: MotoServer, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")
    env = {**aws.env(), "AWS_ACCOUNT_ID": ACCOUNT}
    ecs, ecr = seed_staging(project, aws, url, "0.0.9")
    digest = put_image(ecr, project.repository, "0.1.0")

    with ecs_rollouts_complete():
        before = project.inv("diff", "--env", "staging", extra_env=env)
        assert before.returncode == 2, before.stderr
        assert digest in before.stdout  # the image change is shown

        dry = project.inv("deploy", "--env", "staging", "--dry-run", extra_env=env)
        assert dry.returncode == 0, dry.stderr
        assert "nothing was changed" in dry.stdout
        assert len(ecs.list_task_definitions()["taskDefinitionArns"]) == 1

        deployed = project.inv("deploy", "--env", "staging", extra_env=env)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "COMPLETED and PRIMARY" in deployed.stderr

        same = project.inv("diff", "--env", "staging", extra_env=env)
        assert same.returncode == 0, same.stdout + same.stderr
        assert "no change against gamepulse-staging:2" in same.stdout

        status = project.inv("status", "--env", "staging", "--json", extra_env=env)
        assert status.returncode == 0, status.stderr
        assert "gamepulse-staging:2" in status.stdout
        assert digest in status.stdout

        lock = project.inv("lock", "--env", "staging", "--status", extra_env=env)
        assert lock.returncode == 0, lock.stderr

        monkeypatch.setattr(App, "version", "0.0.9")  # what serves after the rollback
        back = project.inv("rollback", "--env", "staging", extra_env=env)
        assert back.returncode == 0, back.stdout + back.stderr
        svc = ecs.describe_services(cluster="gamepulse-cluster", services=["gamepulse-staging"])[
            "services"
        ][0]
        assert svc["taskDefinition"].endswith("gamepulse-staging:1")

        bad = project.inv("diff", "--env", "staging", "--version", "9.9.9", extra_env=env)
        assert bad.returncode == 1
        assert "no image tagged 9.9.9" in bad.stderr
        assert "Traceback" not in bad.stderr
