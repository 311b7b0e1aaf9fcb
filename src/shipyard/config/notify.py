"""Notifications: Slack (incoming webhook or bot token) and SNS.

Both Slack credentials are references (the webhook URL carries its own token), never values.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shipyard.config.base import SecretRef, Section

NotifyEvent = Literal["start", "success", "failure", "rollback"]
ALL_EVENTS: tuple[NotifyEvent, ...] = ("start", "success", "failure", "rollback")


class SlackConfig(Section):
    """Exactly one of `webhook_url` (an incoming webhook) or `token` (a bot token, which
    needs `channel`)."""

    webhook_url: SecretRef | None = Field(
        default=None,
        description='an incoming webhook\'s URL, by reference (e.g. { env = "SLACK_WEBHOOK_URL" })',
    )
    token: SecretRef | None = Field(
        default=None, description="a bot token, by reference (chat.postMessage); needs channel"
    )
    channel: str | None = Field(
        default=None, description='with token: the channel, e.g. "#deployments"'
    )
    timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="each message's timeout; an outage is one warning and never fails a release",
    )
    api_url: str = Field(
        default="https://slack.com/api/",
        description="Slack's Web API root; only changed for a proxy or a test server",
    )
    events: list[NotifyEvent] = Field(
        default_factory=lambda: list(ALL_EVENTS), description="the events sent to Slack"
    )

    @model_validator(mode="after")
    def _one_way_in(self) -> SlackConfig:
        if bool(self.webhook_url) == bool(self.token):
            raise ValueError("set exactly one of webhook_url or token")
        if self.token and not self.channel:
            raise ValueError('a bot token needs a channel, e.g. channel = "#deployments"')
        return self


class SnsConfig(Section):
    topic_arn: str = Field(
        pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+(\.fifo)?$",
        description="the SNS topic every message is published to",
    )
    events: list[NotifyEvent] = Field(
        default_factory=lambda: list(ALL_EVENTS), description="the events sent to SNS"
    )


class NotifyConfig(Section):
    slack: SlackConfig | None = Field(default=None, description="Slack: [notify.slack]")
    sns: SnsConfig | None = Field(default=None, description="Amazon SNS: [notify.sns]")

    @property
    def enabled(self) -> bool:
        return self.slack is not None or self.sns is not None
