"""inv loadtest: the k6 load check of an environment (the check lives in
rollout/loadcheck.py, where a rollout's verify gate runs it with [loadtest].after_deploy)."""

from __future__ import annotations

from shipyard.rollout.loadcheck import (
    LoadOptions,
    LoadResult,
    environment_url,
    failure,
    parse_vus,
    plan,
    run,
    show,
)

__all__ = [
    "LoadOptions",
    "LoadResult",
    "environment_url",
    "failure",
    "parse_vus",
    "plan",
    "run",
    "show",
]
