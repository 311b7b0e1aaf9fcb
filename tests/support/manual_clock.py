"""A clock for code that takes `clock` and `sleep` callables: time moves only when the code
under test pauses, and every pause is kept, so deadlines and back-offs are asserted exactly
without waiting for them."""

from __future__ import annotations


class ManualClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
