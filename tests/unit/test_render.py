"""inv render: the task definition (and blue/green AppSpec) a deploy would register, from the
target's own rendering, without a running service and without asking AWS anything: the AWS
endpoint here is a closed port, so any call would fail."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest

from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import UsageError
from shipyard.operations import render
from shipyard.targets.ecs_base import EcsBase

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ACCOUNT_ID"):
        monkeypatch.delenv(key, raising=False)


def make_ctx(tmp_path: Path, env: str, **overrides: Any) -> Context:
    root = tmp_path / "proj"
    if not root.exists():
        shutil.copytree(REPO / "deploy", root / "deploy")
        (root / "version.txt").write_text("1.4.0\n")
    config = load_config(env, root=root, environ={}, overrides=overrides)
    return Context(config=config, root=root, console=Console(out=io.StringIO()), environ={})


def app(document: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in document["containerDefinitions"] if c["name"] == "gamepulse")


def test_staging_renders_what_a_deploy_registers_with_a_placeholder_account(
    tmp_path: Path,
) -> None:
    ctx = make_ctx(tmp_path, "staging")
    result = render.run(ctx)
    (service,) = result.services
    image = "000000000000.dkr.ecr.ap-northeast-2.amazonaws.com/gamepulse:1.4.0"
    assert result.image == image
    assert service.service == "gamepulse-staging"
    assert service.sources == ("deploy/taskdef/base.json", "deploy/taskdef/staging.json")
    document = service.task_definition
    assert document["family"] == "gamepulse-staging"
    assert (document["cpu"], document["memory"]) == ("512", "1024")
    assert app(document)["image"] == image
    assert app(document)["secrets"] == [
        {
            "name": "DB_PASSWORD",
            "valueFrom": "arn:aws:secretsmanager:ap-northeast-2:000000000000:secret:"
            "gamepulse/staging/db-password",
        }
    ]
    assert service.appspec is None
    assert any("000000000000 stands for it" in note for note in result.notes)
    # the very rendering a deploy makes of this image
    deployed = EcsBase(ctx).render(ctx.config.target.services[0], image, "1.4.0")  # type: ignore[union-attr]
    assert document == deployed.document


def test_a_configured_account_is_used_and_no_placeholder_is_mentioned(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "staging", **{"aws.account_id": ACCOUNT})
    result = render.run(ctx, version="2.0.0")
    document = result.services[0].task_definition
    assert (
        document["executionRoleArn"]
        == f"arn:aws:iam::{ACCOUNT}:role/gamepulse-staging-ecs-execution"
    )
    assert result.image == f"{ACCOUNT}.dkr.ecr.ap-northeast-2.amazonaws.com/gamepulse:2.0.0"
    assert not any("stands for it" in note for note in result.notes)


def test_image_flag_sets_the_app_container_only(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "staging")
    ref = "registry.example/gamepulse@sha256:" + "a" * 64
    document = render.run(ctx, image=ref).services[0].task_definition
    assert app(document)["image"] == ref
    otel = next(c for c in document["containerDefinitions"] if c["name"] == "otel-collector")
    assert otel["image"].startswith("public.ecr.aws/aws-observability/aws-otel-collector")


def test_production_adds_the_appspec_codedeploy_would_get(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "production")
    (service,) = render.run(ctx).services
    assert (service.task_definition["cpu"], service.task_definition["memory"]) == ("1024", "2048")
    assert service.appspec is not None
    props = service.appspec["Resources"][0]["TargetService"]["Properties"]
    assert props["TaskDefinition"] == render.REVISION_PLACEHOLDER
    assert props["LoadBalancerInfo"] == {"ContainerName": "gamepulse", "ContainerPort": 8080}
    assert "Hooks" not in service.appspec
    assert render.run(ctx).as_dict()["services"][0]["appspec"] == service.appspec


def test_local_renders_the_local_target_s_document_with_file_secrets(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "local")
    result = render.run(ctx)
    (service,) = result.services
    assert result.kind == "local"
    assert result.image == "127.0.0.1:5000/gamepulse:1.4.0"
    assert service.service.startswith("gamepulse-local-")
    assert app(service.task_definition)["secrets"] == [
        {"name": "DB_PASSWORD", "valueFrom": "file:.shipyard/local/secrets/db-password"}
    ]
    assert not (ctx.root / ".shipyard").exists()  # rendering creates nothing


def test_render_refuses_what_the_environment_does_not_have(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no service 'api' \(its services: gamepulse-staging\)"):
        render.run(make_ctx(tmp_path, "staging"), service="api")
    with pytest.raises(UsageError, match="a local environment has none"):
        render.run(make_ctx(tmp_path, "local"), service="api")
    with pytest.raises(UsageError, match="not a semantic version"):
        render.run(make_ctx(tmp_path, "staging"), version="latest")
