"""CloudWatch: alarms checked before a deploy, one metric record per deploy, and the tail of
a stopped task's log stream (CloudWatch Logs)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shipyard.adapters.aws import AwsClients, translate_errors
from shipyard.records import record

OUTCOME_METRICS = ("DeploySuccess", "DeployFailure", "DeployRollback")


@record
class AlarmState:
    name: str
    state: str
    reason: str


class CloudWatch:
    def __init__(self, aws: AwsClients) -> None:
        self.aws = aws

    def alarms(self, names: list[str]) -> list[AlarmState]:
        """The named alarms' states; a name CloudWatch does not know is reported as MISSING so
        a typo in the config does not silently disable the check."""
        if not names:
            return []
        client = self.aws.client("cloudwatch")
        found: dict[str, AlarmState] = {}
        for start in range(0, len(names), 100):
            with translate_errors("cloudwatch:DescribeAlarms"):
                answer = client.describe_alarms(
                    AlarmNames=names[start : start + 100],
                    AlarmTypes=["MetricAlarm", "CompositeAlarm"],
                )
            for alarm in [*answer.get("MetricAlarms", []), *answer.get("CompositeAlarms", [])]:
                found[alarm["AlarmName"]] = AlarmState(
                    alarm["AlarmName"], alarm.get("StateValue", "?"), alarm.get("StateReason", "")
                )
        return [found.get(n, AlarmState(n, "MISSING", "no such alarm")) for n in names]

    def record_deploy(
        self,
        namespace: str,
        *,
        environment: str,
        service: str,
        seconds: float,
        success: bool = False,
        failure: bool = False,
        rollback: bool = False,
    ) -> None:
        """One data point per metric, dimensions Environment and Service: DeployDuration
        (seconds) and DeploySuccess/DeployFailure/DeployRollback as 1 or 0, so their sums
        count deploys. A failed deploy that was rolled back counts as failure and rollback."""
        dims = [
            {"Name": "Environment", "Value": environment},
            {"Name": "Service", "Value": service},
        ]
        now = dt.datetime.now(dt.UTC)
        values = {"DeploySuccess": success, "DeployFailure": failure, "DeployRollback": rollback}
        data: list[dict[str, Any]] = [
            {
                "MetricName": "DeployDuration",
                "Dimensions": dims,
                "Timestamp": now,
                "Value": round(seconds, 3),
                "Unit": "Seconds",
            },
        ]
        for metric in OUTCOME_METRICS:
            data.append(
                {
                    "MetricName": metric,
                    "Dimensions": dims,
                    "Timestamp": now,
                    "Value": 1.0 if values[metric] else 0.0,
                    "Unit": "Count",
                }
            )
        with translate_errors("cloudwatch:PutMetricData"):
            self.aws.client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=data)

    def tail(self, group: str, stream: str, lines: int) -> list[str]:
        """The last `lines` messages of a log stream ([] when the stream does not exist)."""
        import botocore.exceptions as bx

        if lines <= 0:
            return []
        client = self.aws.client("logs")
        try:
            answer = client.get_log_events(
                logGroupName=group, logStreamName=stream, limit=lines, startFromHead=False
            )
        except bx.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return []
            with translate_errors(f"logs:GetLogEvents {group}"):
                raise
        return [str(e.get("message", "")).rstrip() for e in answer.get("events", [])]
