"""Secrets a test registers are forgotten afterwards, so they mask nothing in other tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from shipyard import secrets as secrets_module


@contextlib.contextmanager
def secrets_forgotten_after() -> Iterator[None]:
    """The redaction registry as it was before the block, whatever the block registered."""
    saved = set(secrets_module._known)
    try:
        yield
    finally:
        with secrets_module._lock:
            secrets_module._known.clear()
            secrets_module._known.update(saved)
