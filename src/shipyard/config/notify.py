"""Notifications: Slack (webhook or bot token) and SNS."""

from __future__ import annotations

from pydantic import Field

from shipyard.config.base import SecretRef, Section


class SlackConfig(Section):
    webhook_url: SecretRef | None = None
    token: SecretRef | None = None
    channel: str | None = None
    timeout_seconds: float = Field(default=5.0, gt=0)


class NotifyConfig(Section):
    slack: SlackConfig | None = None
    sns_topic_arn: str | None = None
