"""inv verify: the configured HTTP checks against a URL (the checks live in rollout/checks.py,
where every rollout's verify gate runs the same ones)."""

from __future__ import annotations

from shipyard.rollout.checks import VerifyOptions, run, show

__all__ = ["VerifyOptions", "run", "show"]
