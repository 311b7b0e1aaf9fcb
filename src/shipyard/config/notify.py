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

    webhook_url: SecretRef | None = None
    token: SecretRef | None = None
    channel: str | None = None
    timeout_seconds: float = Field(default=5.0, gt=0)
    # Slack's Web API root; only changed for a proxy or a test server
    api_url: str = "https://slack.com/api/"
    events: list[NotifyEvent] = Field(default_factory=lambda: list(ALL_EVENTS))

    @model_validator(mode="after")
    def _one_way_in(self) -> SlackConfig:
        if bool(self.webhook_url) == bool(self.token):
            raise ValueError("set exactly one of webhook_url or token")
        if self.token and not self.channel:
            raise ValueError('a bot token needs a channel, e.g. channel = "#deployments"')
        return self


class SnsConfig(Section):
    topic_arn: str = Field(
        pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+(\.fifo)?$"
    )
    events: list[NotifyEvent] = Field(default_factory=lambda: list(ALL_EVENTS))


class NotifyConfig(Section):
    slack: SlackConfig | None = None
    sns: SnsConfig | None = None

    @property
    def enabled(self) -> bool:
        return self.slack is not None or self.sns is not None
