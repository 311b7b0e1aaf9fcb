"""Deployment notifications for the pipelines: Slack (webhook or bot token) and SNS.

    from shipyard.notify import NotifyInfo, notify
    notify(ctx, "start", NotifyInfo(version="1.4.0", environment="staging"))
    notify(ctx, "success", NotifyInfo(version=..., digest=..., duration=93.4))

Events: start, success, failure, rollback. A message carries the pipeline, version,
environment, digest, duration, reason and a link to the CI run
(GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID).

Delivery never fails a pipeline: a channel that fails prints ONE warning and is skipped for the
rest of this run (so an outage costs one timeout, not one per event). Credentials are resolved
through SecretRef, so tokens and webhook URLs are masked in everything printed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Final, Literal

from shipyard.adapters.slack import SlackBot, SlackMessage, SlackWebhook
from shipyard.adapters.sns import publish
from shipyard.console import format_seconds
from shipyard.errors import ShipyardError
from shipyard.records import record
from shipyard.secrets import redact

if TYPE_CHECKING:
    from shipyard.adapters.slack import SlackMessage
    from shipyard.context import Context

Event = Literal["start", "success", "failure", "rollback"]
EVENTS: Final[tuple[Event, ...]] = ("start", "success", "failure", "rollback")

_HEADLINE: Final[dict[Event, tuple[str, str]]] = {
    "start": (":rocket:", "started"),
    "success": (":white_check_mark:", "succeeded"),
    "failure": (":x:", "FAILED"),
    "rollback": (":rewind:", "ROLLED BACK"),
}


@record
class NotifyInfo:
    version: str
    environment: str = ""  # default: the context's environment
    digest: str = ""
    duration: float | None = None  # seconds
    pipeline: str = "release"  # release | promote | rollback | ci
    reason: str = ""  # why it failed or rolled back
    run_url: str | None = None  # default: the GitHub Actions run, when there is one
    actor: str = ""
    url: str | None = None  # where the service answers
    task_definition_arn: str = ""
    deployment_id: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> NotifyInfo:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def ci_run_url(environ: Mapping[str, str]) -> str | None:
    """The GitHub Actions run page, from the variables every runner sets."""
    server = environ.get("GITHUB_SERVER_URL", "").rstrip("/")
    repo = environ.get("GITHUB_REPOSITORY", "")
    run_id = environ.get("GITHUB_RUN_ID", "")
    if server and repo and run_id:
        return f"{server}/{repo}/actions/runs/{run_id}"
    return None


def _facts(event: Event, info: NotifyInfo) -> list[tuple[str, str]]:
    facts = [("Environment", info.environment), ("Version", info.version)]
    if info.digest:
        facts.append(("Digest", info.digest))
    if info.duration is not None:
        facts.append(("Duration", format_seconds(info.duration)))
    if info.actor:
        facts.append(("By", info.actor))
    if info.task_definition_arn:
        facts.append(("Task definition", info.task_definition_arn))
    if info.deployment_id:
        facts.append(("Deployment", info.deployment_id))
    if info.reason and event in ("failure", "rollback"):
        facts.append(("Reason", info.reason))
    return facts


def headline(event: Event, info: NotifyInfo) -> str:
    _, verb = _HEADLINE[event]
    return f"{info.pipeline} {info.version} to {info.environment} {verb}"


def plain_text(event: Event, info: NotifyInfo) -> str:
    lines = [headline(event, info), *(f"{k}: {v}" for k, v in _facts(event, info))]
    if info.url:
        lines.append(f"Service: {info.url}")
    if info.run_url:
        lines.append(f"CI run: {info.run_url}")
    return "\n".join(lines)


def slack_message(event: Event, info: NotifyInfo) -> SlackMessage:
    emoji, _ = _HEADLINE[event]
    title = f"{emoji} {headline(event, info)}"
    fields_ = [
        {"type": "mrkdwn", "text": f"*{k}*\n`{v}`" if k in ("Digest", "Version") else f"*{k}*\n{v}"}
        for k, v in _facts(event, info)
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
        # Slack allows at most 10 fields per section
        *({"type": "section", "fields": fields_[i : i + 10]} for i in range(0, len(fields_), 10)),
    ]
    links = []
    if info.run_url:
        links.append(f"<{info.run_url}|CI run>")
    if info.url:
        links.append(f"<{info.url}|service>")
    if links:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]}
        )
    return SlackMessage(text=plain_text(event, info), blocks=tuple(blocks))


class Notifier:
    """Sends to every configured channel; remembers channels that failed during this run."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.down: set[str] = set()

    def _complete(self, info: NotifyInfo) -> NotifyInfo:
        updates: dict[str, Any] = {}
        if not info.environment:
            updates["environment"] = self.ctx.environment
        if info.run_url is None:
            updates["run_url"] = ci_run_url(self.ctx.environ)
        if not info.actor and self.ctx.environ.get("GITHUB_ACTOR"):
            updates["actor"] = self.ctx.environ["GITHUB_ACTOR"]
        if not updates:
            return info
        return NotifyInfo(**{**{f.name: getattr(info, f.name) for f in fields(info)}, **updates})

    def send(self, event: Event, info: NotifyInfo | Mapping[str, Any]) -> list[str]:
        """Deliver `event`; returns the channels that accepted it. Never raises for delivery."""
        if event not in EVENTS:
            raise ValueError(f"unknown notification event {event!r}; one of {', '.join(EVENTS)}")
        full = self._complete(
            info if isinstance(info, NotifyInfo) else NotifyInfo.from_mapping(info)
        )
        cfg = self.ctx.config.notify
        delivered: list[str] = []
        wanted: list[tuple[str, Callable[[], None]]] = []
        if cfg.slack and event in cfg.slack.events:
            wanted.append(("slack", lambda: self._slack(event, full)))
        if cfg.sns and event in cfg.sns.events:
            wanted.append(("sns", lambda: self._sns(event, full)))
        for channel, send in wanted:
            if (
                channel not in self.down
                and self._configured(channel)
                and self._attempt(channel, send)
            ):
                delivered.append(channel)
        return delivered

    def _configured(self, channel: str) -> bool:
        """A Slack credential read from a variable that this run does not have (a fork's pull
        request, a laptop) turns Slack off for the run, said once, instead of failing."""
        slack = self.ctx.config.notify.slack
        if channel != "slack" or slack is None:
            return True
        ref = slack.webhook_url or slack.token
        if ref is None or ref.env is None or self.ctx.environ.get(ref.env):
            return True
        self.down.add(channel)
        self.ctx.console.info(f"notifications: slack is off ({ref.env} is not set)")
        return False

    def _attempt(self, channel: str, send: Callable[[], None]) -> bool:
        try:
            send()
        except ShipyardError as exc:
            problem = exc.one_line()
        except Exception as exc:  # a notification must never break a release
            problem = redact(f"{type(exc).__name__}: {exc}")
        else:
            return True
        self.down.add(channel)
        self.ctx.console.warn(
            f"{channel} notification not sent: {problem}; the pipeline goes on "
            f"(further {channel} messages this run are skipped)"
        )
        return False

    def _slack(self, event: Event, info: NotifyInfo) -> None:
        cfg = self.ctx.config.notify.slack
        assert cfg is not None
        message = slack_message(event, info)
        if cfg.webhook_url:
            SlackWebhook(self.ctx.secret(cfg.webhook_url), timeout=cfg.timeout_seconds).send(
                message
            )
        elif cfg.token and cfg.channel:
            SlackBot(
                self.ctx.secret(cfg.token),
                cfg.channel,
                api_url=cfg.api_url,
                timeout=cfg.timeout_seconds,
            ).send(message)

    def _sns(self, event: Event, info: NotifyInfo) -> None:
        cfg = self.ctx.config.notify.sns
        assert cfg is not None
        publish(
            self.ctx.aws,
            cfg.topic_arn,
            f"[shipyard] {headline(event, info)}",
            plain_text(event, info),
            {"event": event, "environment": info.environment, "version": info.version},
        )


_NOTIFIER_ATTR = "_shipyard_notifier"


def notifier_for(ctx: Context) -> Notifier:
    """One Notifier per Context, so a channel that failed once stays quiet for the run."""
    existing = vars(ctx).get(_NOTIFIER_ATTR)
    if isinstance(existing, Notifier):
        return existing
    created = Notifier(ctx)
    vars(ctx)[_NOTIFIER_ATTR] = created
    return created


def notify(ctx: Context, event: Event, info: NotifyInfo | Mapping[str, Any]) -> list[str]:
    """Send `event` to the configured channels; returns the channels that accepted it.
    Never raises because of a delivery problem (one warning per channel per run)."""
    return notifier_for(ctx).send(event, info)
