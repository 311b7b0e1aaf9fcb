"""inv logs: the output of what serves. Local: `docker logs` of the live release's containers
(or --release's). ECS: CloudWatch Logs, read where the awslogs driver writes for the live task
definition (its group and stream prefix: `<prefix>/<container>/<task id>`), across the
service's running tasks, newest task first. --follow keeps reading until Ctrl-C.

Everything is checked (--since, --container, --release) before the first line is read."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import field
from typing import TYPE_CHECKING, Any

from shipyard.adapters.docker_streams import docker_logs
from shipyard.adapters.ecs_tasks import EcsTasks, task_id
from shipyard.adapters.logs import CloudWatchLogs, stream_name
from shipyard.errors import ConfigError, UsageError
from shipyard.operations.live import choose, ecs_service, local_release
from shipyard.records import record
from shipyard.secrets import redact

if TYPE_CHECKING:
    from shipyard.adapters.logs import CloudWatchLogs
    from shipyard.context import Context
    from shipyard.operations.live import EcsService

FOLLOW_POLL_SECONDS = 2.0
DEFAULT_ECS_SINCE = "10m"  # as `aws logs tail`: a service's tasks may have logged for weeks
_RELATIVE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DOCKER_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


@record
class LogsOptions:
    since: str | None = None
    follow: bool = False
    container: str | None = None
    release: str | None = None
    service: str | None = None


@record
class LogLine:
    source: str  # shown before the line: the container, on ECS with the task's short id
    container: str
    task: str  # the ECS task id; '' locally
    timestamp: str  # ISO 8601, UTC; '' when not known
    message: str

    def as_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("container", "task", "timestamp", "message")}


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """30s, 10m, 2h, 1d before now, or an ISO 8601 timestamp (without a zone: local time)."""
    now = now or dt.datetime.now(dt.UTC)
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative:
        return now - dt.timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {text!r} is neither a duration nor a timestamp",
            hint="use 30s, 10m, 2h, 1d or an ISO 8601 time such as 2026-01-31T12:00:00Z",
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


def _iso_ms(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- the two kinds of environment ---------------------------------------------------------------
@record(frozen=False)
class LocalLogs:
    release_id: str
    sources: list[tuple[str, str]]  # (container, Docker's name for it)
    since: dt.datetime | None
    follow: bool

    @property
    def describe(self) -> str:
        names = ", ".join(label for label, _ in self.sources)
        return f"release {self.release_id}: {names}"

    def lines(self) -> Iterator[LogLine]:
        since = (
            self.since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if self.since else None
        )
        for label, raw in docker_logs(self.sources, since=since, follow=self.follow):
            stamp, _, message = raw.partition(" ")
            if not _DOCKER_STAMP.fullmatch(stamp):
                stamp, message = "", raw
            yield LogLine(label, label, "", stamp, message)


@record
class AwsLog:
    """Where the awslogs driver writes a container's output."""

    container: str
    group: str
    prefix: str
    region: str


@record(frozen=False)
class EcsLogs:
    live: EcsService
    targets: list[AwsLog]
    readers: Callable[[str], CloudWatchLogs]  # the reader for a region
    since_ms: int | None
    follow: bool
    everything: bool = False  # --release: its stopped tasks too, not only the running ones
    sleep: Callable[[float], None] = time.sleep
    tokens: dict[tuple[str, str], str | None] = field(default_factory=dict)

    @property
    def describe(self) -> str:
        names = ", ".join(t.container for t in self.targets)
        return f"{self.live.service.name} ({self.live.taskdef_arn.rsplit('/', 1)[-1]}): {names}"

    def tasks(self) -> list[dict[str, Any]]:
        api = EcsTasks(self.live.target.ctx.aws)
        name = self.live.service.name
        found = api.of_service(self.live.cluster, name)
        if self.everything:
            found += api.of_service(self.live.cluster, name, status="STOPPED")
            found = [t for t in found if t.get("taskDefinitionArn") == self.live.taskdef_arn]
        return sorted(
            found, key=lambda t: str(t.get("startedAt") or t.get("createdAt") or ""), reverse=True
        )

    def lines(self) -> Iterator[LogLine]:
        tasks = self.tasks()
        if not tasks:
            later = ": waiting for one" if self.follow else ""
            self.live.target.console.progress(f"{self.live.service.name} runs no task{later}")
        for task in tasks:  # newest first, each task's lines in order
            yield from self._new_lines([task])
        while self.follow:
            self.sleep(FOLLOW_POLL_SECONDS)
            yield from self._new_lines(self.tasks())

    def _new_lines(self, tasks: list[dict[str, Any]]) -> list[LogLine]:
        found: list[tuple[int, LogLine]] = []
        for task in tasks:
            tid = task_id(str(task.get("taskArn", "")))
            for where in self.targets:
                key = (tid, where.container)
                stream = stream_name(where.prefix, where.container, tid)
                read = self.readers(where.region).read(
                    where.group, stream, start_ms=self.since_ms, token=self.tokens.get(key)
                )
                self.tokens[key] = read.token
                source = f"{where.container}/{tid[:8]}"
                found += [
                    (
                        e.timestamp,
                        LogLine(source, where.container, tid, _iso_ms(e.timestamp), e.message),
                    )
                    for e in read.events
                ]
        return [line for _, line in sorted(found, key=lambda pair: pair[0])]


# -- opening ------------------------------------------------------------------------------------
def open_logs(
    ctx: Context, opts: LogsOptions, *, sleep: Callable[[float], None] = time.sleep
) -> LocalLogs | EcsLogs:
    """What `opts` asks for, checked; its `lines()` read it."""
    since = parse_since(opts.since) if opts.since else None
    if ctx.config.target.kind == "local":
        return _local(ctx, opts, since)
    return _ecs(ctx, opts, since, sleep)


def _local(ctx: Context, opts: LogsOptions, since: dt.datetime | None) -> LocalLogs:
    if opts.service:
        raise UsageError("--service names an ECS service; a local environment has none")
    release = local_release(ctx, opts.release)
    names = list(release.containers)
    if opts.container:
        names = [choose(names, opts.container, release.target.app, f"release {release.release_id}")]
    sources = [(n, release.containers[n].name) for n in names]
    return LocalLogs(release.release_id, sources, since, opts.follow)


def _ecs(
    ctx: Context, opts: LogsOptions, since: dt.datetime | None, sleep: Callable[[float], None]
) -> EcsLogs:
    live = ecs_service(ctx, opts.service, opts.release)
    names = [live.container(opts.container)] if opts.container else live.container_names
    targets = [t for t in (aws_log(live, n, ctx.aws.region) for n in names) if t is not None]
    if not targets:
        what = f"container {names[0]!r}" if opts.container else "no container of it"
        raise ConfigError(
            f"{live.taskdef_arn.rsplit('/', 1)[-1]}: {what} logs to CloudWatch "
            "(logConfiguration.logDriver awslogs with an awslogs-group)",
            hint="add an awslogs logConfiguration in deploy/taskdef/",
        )
    readers: dict[str, CloudWatchLogs] = {}

    def reader(region: str) -> CloudWatchLogs:
        if region not in readers:
            readers[region] = CloudWatchLogs(ctx.aws.for_region(region))
        return readers[region]

    since_ms = int(since.timestamp() * 1000) if since else None
    everything = opts.release is not None
    return EcsLogs(live, targets, reader, since_ms, opts.follow, everything, sleep)


def aws_log(live: EcsService, container: str, region: str) -> AwsLog | None:
    """The awslogs settings of `container` in the live task definition (None: another driver)."""
    for c in live.taskdef.get("containerDefinitions", []):
        if c.get("name") != container:
            continue
        config = c.get("logConfiguration") or {}
        options = config.get("options") or {}
        if config.get("logDriver") != "awslogs" or not options.get("awslogs-group"):
            return None
        return AwsLog(
            container,
            str(options["awslogs-group"]),
            str(options.get("awslogs-stream-prefix", "")),
            str(options.get("awslogs-region") or region),
        )
    return None


# -- showing ------------------------------------------------------------------------------------
def show(ctx: Context, stream: LocalLogs | EcsLogs, *, as_json: bool) -> None:
    """`source | message` lines; --json: one document, or with --follow one JSON object per
    line (a stream that only Ctrl-C ends cannot be one document)."""
    collected: list[dict[str, str]] = []
    for line in stream.lines():
        if not as_json:
            ctx.console.line(f"{line.source} | {line.message}")
        elif stream.follow:
            _json_line(line.as_dict())
        else:
            collected.append(line.as_dict())
    if as_json and not stream.follow:
        ctx.console.json(
            {"environment": ctx.environment, "of": stream.describe, "lines": collected}
        )


def _json_line(document: dict[str, str]) -> None:

    # `##[` (a legacy workflow command) can only stand inside a string: \u005b is the same
    text = redact(json.dumps(document, sort_keys=True)).replace("##[", "##\\u005b")
    print(text, flush=True)
