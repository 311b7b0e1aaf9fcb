"""Interrupt handling for work that must not be left half done.

The first Ctrl-C (or SIGTERM) raises where the process is, so the code that was running puts
things back (switch traffic back, remove new containers, record the outcome, free the lock).
While that cleanup runs, a second Ctrl-C or SIGTERM ends the process at once with 130: the
lock is an flock the kernel drops, and the next deploy finds the record left in progress and
finishes the cleanup.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

EXIT_INTERRUPTED = 130


def _exit_now(_signum: int, _frame: Any) -> None:
    os.write(2, b"error: interrupted again: exiting at once\n")
    os._exit(EXIT_INTERRUPTED)


@contextmanager
def cleanup_section() -> Iterator[None]:
    """Run the body with a further SIGINT/SIGTERM exiting immediately instead of raising."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _exit_now) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def is_interrupt(exc: BaseException) -> bool:
    """Ctrl-C, SIGTERM (tasks/_common raises a BaseException for it) or anything else that is
    not an ordinary error."""
    return not isinstance(exc, Exception)
