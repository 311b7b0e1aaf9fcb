"""Slack through the REAL slack-sdk clients against a local HTTP server; SNS through moto server.

The server stands in for hooks.slack.com / slack.com/api: the clients, their serialisation,
headers, retries and error handling are slack-sdk's own.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shipyard.config.base import SecretRef
from shipyard.config.model import ShipyardConfig
from shipyard.config.notify import NotifyConfig, SlackConfig, SnsConfig
from shipyard.console import Console
from shipyard.context import Context
from shipyard.notify import NotifyInfo, ci_run_url, notify
from tests.conftest import MotoServer, free_port

WEBHOOK_SECRET_PATH = "/services/T000/B000/webhooksecretvalue123"
BOT_TOKEN = "xoxb-EXAMPLE-5678-secrettokenvalue"
GITHUB_ENV = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/gamepulse",
    "GITHUB_RUN_ID": "987654321",
}
RUN_URL = "https://github.com/acme/gamepulse/actions/runs/987654321"
DIGEST = "sha256:" + "ab" * 32


@dataclass
class FakeSlack:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    body: str = "ok"


@pytest.fixture
def slack_server() -> Iterator[FakeSlack]:
    state = FakeSlack("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length).decode()
            ctype = self.headers.get("Content-Type", "")
            if "json" in ctype:
                payload = json.loads(raw)
            else:
                from urllib.parse import parse_qsl

                payload = dict(parse_qsl(raw))
            state.requests.append(
                {"path": self.path, "headers": dict(self.headers.items()), "payload": payload}
            )
            data = state.body.encode()
            self.send_response(state.status)
            self.send_header(
                "Content-Type", "application/json" if data.startswith(b"{") else "text/plain"
            )
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def make_ctx(
    tmp_path: Path, notify_cfg: NotifyConfig, environ: dict[str, str]
) -> tuple[Context, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    config = ShipyardConfig(environment="staging", notify=notify_cfg)
    ctx = Context(config=config, root=tmp_path, console=Console(out, err), environ=environ)
    return ctx, out, err


INFO = NotifyInfo(version="1.4.0", digest=DIGEST, duration=93.4, pipeline="release")


def test_webhook_message_carries_version_environment_digest_duration_and_run_link(
    tmp_path: Path, slack_server: FakeSlack
) -> None:
    hook = slack_server.url + WEBHOOK_SECRET_PATH
    cfg = NotifyConfig(slack=SlackConfig(webhook_url=SecretRef(env="SLACK_WEBHOOK_URL")))
    ctx, out, err = make_ctx(tmp_path, cfg, {"SLACK_WEBHOOK_URL": hook, **GITHUB_ENV})

    assert notify(ctx, "success", INFO) == ["slack"]

    (request,) = slack_server.requests
    assert request["path"] == WEBHOOK_SECRET_PATH
    text = request["payload"]["text"]
    assert "release 1.4.0 to staging succeeded" in text
    assert DIGEST in text
    assert "1m33s" in text
    assert RUN_URL in text
    blocks = json.dumps(request["payload"]["blocks"])
    assert RUN_URL in blocks
    assert DIGEST in blocks
    assert out.getvalue() == ""
    assert err.getvalue() == ""


@pytest.mark.parametrize("event", ["start", "success", "failure", "rollback"])
def test_bot_token_posts_every_event_with_chat_post_message(
    tmp_path: Path, slack_server: FakeSlack, event: Any
) -> None:
    slack_server.body = json.dumps({"ok": True, "channel": "C1", "ts": "1.2"})
    cfg = NotifyConfig(
        slack=SlackConfig(
            token=SecretRef(env="SLACK_BOT_TOKEN"),
            channel="#deployments",
            api_url=slack_server.url + "/api/",
        )
    )
    ctx, _, err = make_ctx(tmp_path, cfg, {"SLACK_BOT_TOKEN": BOT_TOKEN, **GITHUB_ENV})
    info = NotifyInfo(version="1.4.0", digest=DIGEST, duration=12.0, reason="health check 500")

    assert notify(ctx, event, info) == ["slack"]

    (request,) = slack_server.requests
    assert request["path"] == "/api/chat.postMessage"
    assert request["headers"]["Authorization"] == f"Bearer {BOT_TOKEN}"
    payload = request["payload"]
    assert payload["channel"] == "#deployments"
    assert "1.4.0" in payload["text"]
    assert "staging" in payload["text"]
    assert RUN_URL in payload["text"]
    assert ("health check 500" in payload["text"]) == (event in ("failure", "rollback"))
    assert err.getvalue() == ""


def test_outage_is_one_warning_never_an_error_and_the_channel_is_skipped_afterwards(
    tmp_path: Path, slack_server: FakeSlack
) -> None:
    slack_server.status = 503
    slack_server.body = "upstream down"
    hook = slack_server.url + WEBHOOK_SECRET_PATH
    cfg = NotifyConfig(slack=SlackConfig(webhook_url=SecretRef(env="SLACK_WEBHOOK_URL")))
    ctx, out, err = make_ctx(tmp_path, cfg, {"SLACK_WEBHOOK_URL": hook})

    assert notify(ctx, "start", INFO) == []
    assert notify(ctx, "success", INFO) == []

    assert len(slack_server.requests) == 1
    warnings = err.getvalue().splitlines()
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("warning: slack notification not sent: ")
    assert "HTTP 503" in warnings[0]
    assert "webhooksecretvalue123" not in out.getvalue() + err.getvalue()


def test_unreachable_slack_and_a_refused_token_never_print_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    dead = f"http://127.0.0.1:{free_port()}/api/"
    cfg = NotifyConfig(
        slack=SlackConfig(
            token=SecretRef(env="SLACK_BOT_TOKEN"), channel="#d", api_url=dead, timeout_seconds=2
        )
    )
    ctx, out, err = make_ctx(tmp_path, cfg, {"SLACK_BOT_TOKEN": BOT_TOKEN})

    assert notify(ctx, "failure", INFO) == []

    lines = err.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("::warning::slack notification not sent")
    assert BOT_TOKEN not in out.getvalue() + err.getvalue()


def test_invalid_token_is_explained(tmp_path: Path, slack_server: FakeSlack) -> None:
    slack_server.body = json.dumps({"ok": False, "error": "invalid_auth"})
    cfg = NotifyConfig(
        slack=SlackConfig(
            token=SecretRef(env="SLACK_BOT_TOKEN"), channel="#d", api_url=slack_server.url + "/api/"
        )
    )
    ctx, out, err = make_ctx(tmp_path, cfg, {"SLACK_BOT_TOKEN": BOT_TOKEN})

    assert notify(ctx, "start", INFO) == []

    assert "invalid_auth" in err.getvalue()
    assert "update the secret notify.slack.token points at" in err.getvalue()
    assert BOT_TOKEN not in out.getvalue() + err.getvalue()


def test_an_unset_webhook_variable_turns_slack_off_with_one_info_line(tmp_path: Path) -> None:
    cfg = NotifyConfig(slack=SlackConfig(webhook_url=SecretRef(env="SLACK_WEBHOOK_URL")))
    ctx, out, err = make_ctx(tmp_path, cfg, {})

    for event in ("start", "success", "failure"):
        assert notify(ctx, event, INFO) == []  # type: ignore[arg-type]
    assert out.getvalue() == "notifications: slack is off (SLACK_WEBHOOK_URL is not set)\n"
    assert err.getvalue() == ""  # not a warning: an unset webhook is a choice


def test_a_missing_secret_file_is_a_warning(tmp_path: Path) -> None:
    cfg = NotifyConfig(slack=SlackConfig(webhook_url=SecretRef(file=str(tmp_path / "nope"))))
    ctx, _, err = make_ctx(tmp_path, cfg, {})

    assert notify(ctx, "start", INFO) == []
    assert "slack notification not sent" in err.getvalue()


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_the_aws_environments_wire_slack_to_the_workflow_secret(environment: str) -> None:
    from shipyard.config import load_config
    from tests.conftest import REPO

    slack = load_config(environment, root=REPO).notify.slack
    assert slack is not None
    assert slack.webhook_url == SecretRef(env="SLACK_WEBHOOK_URL")
    workflow = (REPO / ".github" / "workflows" / "gamepulse-ci-cd.yml").read_text()
    assert "SLACK_WEBHOOK_URL: ${{ secrets.SLACK_WEBHOOK_URL }}" in workflow


def test_events_filter_and_no_channels(tmp_path: Path, slack_server: FakeSlack) -> None:
    hook = slack_server.url + WEBHOOK_SECRET_PATH
    cfg = NotifyConfig(
        slack=SlackConfig(webhook_url=SecretRef(env="HOOK"), events=["failure", "rollback"])
    )
    ctx, _, _ = make_ctx(tmp_path, cfg, {"HOOK": hook})
    assert notify(ctx, "start", INFO) == []
    assert notify(ctx, "rollback", INFO) == ["slack"]
    assert len(slack_server.requests) == 1

    quiet, _, err = make_ctx(tmp_path, NotifyConfig(), {})
    assert notify(quiet, "start", {"version": "1.0.0", "ignored": "x"}) == []
    assert err.getvalue() == ""


def test_sns_publish_reaches_a_subscribed_queue(tmp_path: Path, aws: MotoServer) -> None:
    import boto3

    sns = boto3.client("sns", endpoint_url=aws.endpoint)
    sqs = boto3.client("sqs", endpoint_url=aws.endpoint)
    topic = sns.create_topic(Name="deployments")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    ctx, _, err = make_ctx(tmp_path, NotifyConfig(sns=SnsConfig(topic_arn=topic)), GITHUB_ENV)

    assert notify(ctx, "rollback", NotifyInfo(version="2.0.0", reason="5xx alarm")) == ["sns"]

    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Subject"] == "[shipyard] release 2.0.0 to staging ROLLED BACK"
    assert "Reason: 5xx alarm" in envelope["Message"]
    assert RUN_URL in envelope["Message"]
    assert envelope["MessageAttributes"]["event"]["Value"] == "rollback"
    assert err.getvalue() == ""


def test_sns_failure_is_a_warning(tmp_path: Path, aws: MotoServer) -> None:
    missing = "arn:aws:sns:ap-northeast-2:123456789012:nope"
    ctx, _, err = make_ctx(tmp_path, NotifyConfig(sns=SnsConfig(topic_arn=missing)), {})
    assert notify(ctx, "start", INFO) == []
    assert err.getvalue().count("warning: sns notification not sent") == 1


def test_ci_run_url_needs_all_three_variables() -> None:
    assert ci_run_url(GITHUB_ENV) == RUN_URL
    assert ci_run_url({**GITHUB_ENV, "GITHUB_RUN_ID": ""}) is None


def test_slack_config_requires_exactly_one_way_in() -> None:
    from pydantic import ValidationError

    from shipyard.config import validate

    with pytest.raises(ValidationError, match="exactly one of webhook_url or token"):
        validate.section(SlackConfig, {})
    with pytest.raises(ValidationError, match="needs a channel"):
        validate.section(SlackConfig, {"token": {"env": "T"}})
    # the rule is the section's own (__post_init__): a section built in code obeys it too
    with pytest.raises(ValueError, match="exactly one of webhook_url or token"):
        SlackConfig()
    with pytest.raises(ValueError, match="needs a channel"):
        SlackConfig(token=SecretRef(env="T"))
