"""CloudWatch Logs reads for `inv logs` and `inv run`: the events of one log stream, oldest
first, from a point in time or from where the previous read stopped.

The awslogs driver names a task's stream `<stream prefix>/<container>/<task id>`; the stream
appears only once the container has written its first line, so a stream that does not exist
(yet) reads as empty instead of failing.
"""

from __future__ import annotations

from typing import Any

from shipyard.adapters.aws import AwsClients, error_code, translate_errors
from shipyard.records import record

MAX_PAGES = 100  # one read; a follower reads the rest at its next poll


@record
class LogEvent:
    timestamp: int  # milliseconds since the epoch, as CloudWatch stores it
    message: str


@record
class StreamRead:
    events: list[LogEvent]
    token: str | None  # pass it to the next read to get only what came after


def stream_name(prefix: str, container: str, task_id: str) -> str:
    """The awslogs driver's stream name for a task's container (no prefix: the task id)."""
    return f"{prefix}/{container}/{task_id}" if prefix else task_id


class CloudWatchLogs:
    def __init__(self, aws: AwsClients) -> None:
        self.aws = aws

    def read(
        self, group: str, stream: str, *, start_ms: int | None = None, token: str | None = None
    ) -> StreamRead:
        """Every event of `stream` after `token` (or from `start_ms`, or from the start)."""
        import botocore.exceptions as bx

        client = self.aws.client("logs")
        events: list[LogEvent] = []
        for _ in range(MAX_PAGES):
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "logStreamName": stream,
                "startFromHead": True,
            }
            if token:
                kwargs["nextToken"] = token
            if start_ms is not None:  # with the token too: it counts within the same window
                kwargs["startTime"] = start_ms
            try:
                answer = client.get_log_events(**kwargs)
            except bx.ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return StreamRead(events, token)  # not written to yet
                with translate_errors(f"logs:GetLogEvents {group} {stream}"):
                    raise
            events += [
                LogEvent(int(e.get("timestamp", 0)), str(e.get("message", "")).rstrip("\n"))
                for e in answer.get("events", [])
            ]
            following = answer.get("nextForwardToken")
            # the end of the stream is the token coming back unchanged
            if not following or following == token:
                break
            token = following
        return StreamRead(events, token)
