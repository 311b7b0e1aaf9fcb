"""Notifications: Slack (incoming webhook or bot token) and SNS.

Both Slack credentials are references (the webhook URL carries its own token), never values.
"""

from __future__ import annotations

from dataclasses import field
from typing import Literal

from shipyard.config.base import SecretRef, Section, about, config_section

NotifyEvent = Literal["start", "success", "failure", "rollback"]
ALL_EVENTS: tuple[NotifyEvent, ...] = ("start", "success", "failure", "rollback")


@config_section
class SlackConfig(Section):
    """Exactly one of `webhook_url` (an incoming webhook) or `token` (a bot token, which
    needs `channel`)."""

    webhook_url: SecretRef | None = field(
        default=None,
        metadata=about(
            'an incoming webhook\'s URL, by reference (e.g. { env = "SLACK_WEBHOOK_URL" })'
        ),
    )
    token: SecretRef | None = field(
        default=None, metadata=about("a bot token, by reference (chat.postMessage); needs channel")
    )
    channel: str | None = field(
        default=None, metadata=about('with token: the channel, e.g. "#deployments"')
    )
    timeout_seconds: float = field(
        default=5.0,
        metadata=about(
            "each message's timeout; an outage is one warning and never fails a release", gt=0
        ),
    )
    api_url: str = field(
        default="https://slack.com/api/",
        metadata=about("Slack's Web API root; only changed for a proxy or a test server"),
    )
    events: list[NotifyEvent] = field(
        default_factory=lambda: list(ALL_EVENTS), metadata=about("the events sent to Slack")
    )

    def __post_init__(self) -> None:
        if bool(self.webhook_url) == bool(self.token):
            raise ValueError("set exactly one of webhook_url or token")
        if self.token and not self.channel:
            raise ValueError('a bot token needs a channel, e.g. channel = "#deployments"')


@config_section
class SnsConfig(Section):
    topic_arn: str = field(
        metadata=about(
            "the SNS topic every message is published to",
            pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+(\.fifo)?$",
        )
    )
    events: list[NotifyEvent] = field(
        default_factory=lambda: list(ALL_EVENTS), metadata=about("the events sent to SNS")
    )


@config_section
class NotifyConfig(Section):
    slack: SlackConfig | None = field(default=None, metadata=about("Slack: [notify.slack]"))
    sns: SnsConfig | None = field(default=None, metadata=about("Amazon SNS: [notify.sns]"))

    @property
    def enabled(self) -> bool:
        return self.slack is not None or self.sns is not None
