"""Secret values and their redaction.

A `Secret` never shows its value through str(), repr() or formatting; code that needs the value
calls `reveal()`. Every secret created is also registered with a process-wide redactor, so a
value that leaks into a foreign message (a subprocess' stderr, an SDK exception) is masked
wherever shipyard prints or raises it.
"""

from __future__ import annotations

import threading
from typing import Final

MASK: Final = "***"
# Very short values would mask ordinary words; such a value is still never printed by us
# directly, it just is not searched for in foreign text.
_MIN_REDACTABLE = 4

_lock = threading.Lock()
_known: set[str] = set()


def register(value: str) -> None:
    if len(value) >= _MIN_REDACTABLE:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        values = sorted(_known, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


class Secret:
    """A resolved secret value; it prints as *** and is registered for redaction."""

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, source: str = "") -> None:
        self._value = value
        self._source = source
        register(value)

    def reveal(self) -> str:
        return self._value

    @property
    def source(self) -> str:
        """Where the value came from (the reference, never the value)."""
        return self._source

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({self._source or MASK!s})"

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)
