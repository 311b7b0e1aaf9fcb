"""The machine's local time zone, changed for one test: TZ set and the C library told
(time.tzset), then both put back."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def local_time_zone(zone: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", zone)
        time.tzset()
        try:
            yield
        finally:
            patch.undo()
            time.tzset()
