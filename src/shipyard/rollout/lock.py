"""The environment's deploy lock, held re-entrantly within one process: a release holds it from
its first step to its last, and the rollout it runs inside enters it again without a second
acquisition. Keyed by checkout and environment, so two contexts of one environment share it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shipyard.console import Console
from shipyard.locking import Lock

_held: dict[tuple[str, str], int] = {}


def is_held(root: Path, environment: str) -> bool:
    return _held.get((str(root), environment), 0) > 0


@contextmanager
def holding(
    lock: Lock,
    *,
    root: Path,
    environment: str,
    message: str,
    wait: float = 0.0,
    console: Console | None = None,
) -> Iterator[None]:
    """Hold `lock` for the body; a nested `holding` of the same environment only counts."""
    key = (str(root), environment)
    if _held.get(key, 0) > 0:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    info = lock.acquire(message, wait=wait)
    _held[key] = 1
    try:
        if info.took_over and console is not None:
            console.warn(
                f"took over the deploy lock left by {info.took_over} (that process is gone)"
            )
        yield
    finally:
        _held.pop(key, None)
        lock.release()
