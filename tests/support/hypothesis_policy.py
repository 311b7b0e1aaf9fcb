"""The Hypothesis policy of the suite: every property test is decorated with `PROPERTY` (or a
child of it), so none flakes under load and every failure can be replayed.

- deadline: none. A property test's examples are fast, but on a loaded machine (pytest -n 2
  next to Docker builds, or mutmut's trampolines) one example can take longer than
  Hypothesis' default 200 ms, which failed about 1 run in 13 while nothing was wrong.
- health checks: `too_slow` is off for the same reason (slow generation under load is the
  machine, not the strategy); the others stay on.
- seed: random on a developer's machine (new examples each run, failures kept in the example
  database and replayed first); fixed (`derandomize`, no database) in CI and under mutation
  testing, where two runs of one commit must run the same examples: a mutant is then killed or
  not, never by luck. Set SHIPYARD_HYPOTHESIS=random|fixed to choose. A failure prints its
  `@reproduce_failure` blob either way.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def _fixed_seed() -> bool:
    chosen = os.environ.get("SHIPYARD_HYPOTHESIS", "")
    if chosen in ("random", "fixed"):
        return chosen == "fixed"
    return bool(os.environ.get("CI")) or "MUTANT_UNDER_TEST" in os.environ


_FIXED = _fixed_seed()

PROPERTY = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=_FIXED,
    database=None if _FIXED else settings.default.database,
    print_blob=True,
)
