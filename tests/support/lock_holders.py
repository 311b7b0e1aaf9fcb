"""A live holder of a local lock file, for the FileLock tests."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def held_by_another(path: Path, description: dict[str, object] | str) -> Iterator[None]:
    """A live holder: `description` in the file (JSON, or raw text when a str), its flock
    taken on another open file description, as another process's acquire leaves it."""
    text = description if isinstance(description, str) else json.dumps(description)
    path.write_text(text)
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
