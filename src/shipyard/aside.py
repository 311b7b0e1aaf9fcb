"""A call run aside, on a thread of its own, while the caller goes on: for the reads a command
waits on (a docker command, a registry request) that need not wait for each other.

The thread is a daemon: a caller that fails before asking for the answer (bad input found while
the engine is slow to answer) exits at once instead of waiting for a call nobody needs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Aside(Generic[T]):
    """`call()` started now; `result()` waits for it and returns its value or raises its
    exception, as if it had been called there."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._call = call
        self._value: list[T] = []  # empty until the call returned
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value.append(self._call())
        except BaseException as exc:  # handed to result(), which raises it
            self._error = exc

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value[0]
