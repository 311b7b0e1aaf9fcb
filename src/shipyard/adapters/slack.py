"""Slack through slack-sdk: an incoming webhook (WebhookClient) or a bot token (WebClient).

Every failure becomes NotifyFailed with a redacted one-liner; the caller decides that a Slack
outage is a warning, never a failed release. slack-sdk logs its own errors through `logging`,
which would print a second, unredacted line: its clients get a silent logger instead.
"""

from __future__ import annotations

import logging
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.records import record
from shipyard.secrets import Secret, redact


class NotifyFailed(ShipyardError):
    """A notification could not be delivered (never fails a pipeline)."""


@record
class SlackMessage:
    text: str  # fallback text: notifications and clients without blocks
    blocks: tuple[dict[str, Any], ...] = ()


def _silent_logger() -> logging.Logger:
    logger = logging.getLogger("shipyard.slack_sdk")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


class SlackWebhook:
    """An incoming webhook; the URL itself is the credential."""

    def __init__(self, url: Secret, *, timeout: float = 5.0) -> None:
        self._url = url
        self._timeout = timeout

    def send(self, message: SlackMessage) -> None:
        from slack_sdk.webhook import WebhookClient

        client = WebhookClient(
            url=self._url.reveal(), timeout=max(1, round(self._timeout)), logger=_silent_logger()
        )
        try:
            response = client.send(text=message.text, blocks=list(message.blocks) or None)
        except Exception as exc:  # any transport failure: the outage is reported, not raised
            raise NotifyFailed(f"Slack webhook unreachable: {_describe(exc)}") from None
        if response.status_code != 200:
            body = redact(str(response.body or ""))[:200]
            raise NotifyFailed(f"Slack webhook answered HTTP {response.status_code}: {body}")


class SlackBot:
    """A bot token posting with chat.postMessage to one channel."""

    def __init__(
        self,
        token: Secret,
        channel: str,
        *,
        api_url: str = "https://slack.com/api/",
        timeout: float = 5.0,
    ) -> None:
        self._token = token
        self._channel = channel
        self._api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._timeout = timeout

    def send(self, message: SlackMessage) -> None:
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        client = WebClient(
            token=self._token.reveal(),
            base_url=self._api_url,
            timeout=max(1, round(self._timeout)),
            logger=_silent_logger(),
        )
        try:
            client.chat_postMessage(
                channel=self._channel, text=message.text, blocks=list(message.blocks) or None
            )
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            status = exc.response.status_code if exc.response is not None else "?"
            raise NotifyFailed(
                f"Slack chat.postMessage to {self._channel} failed: {error or f'HTTP {status}'}",
                hint=_hint(str(error)),
            ) from None
        except Exception as exc:
            raise NotifyFailed(f"Slack API unreachable: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", "") or exc) or type(exc).__name__
    return redact(f"{type(exc).__name__}: {text}")[:200]


def _hint(error: str) -> str | None:
    if error in ("invalid_auth", "not_authed", "token_revoked", "account_inactive"):
        return "the bot token is invalid or revoked: update the secret notify.slack.token points at"
    if error in ("channel_not_found", "not_in_channel"):
        return "invite the bot to the channel or fix notify.slack.channel"
    return None
