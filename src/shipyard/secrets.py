"""Secret values and their redaction.

A `Secret` never shows its value through str(), repr() or formatting; code that needs the value
calls `reveal()`. Every secret created is also registered with a process-wide redactor, so a
value that leaks into a foreign message (a subprocess' stderr, an SDK exception) is masked
wherever shipyard prints or raises it.

A value is rarely leaked verbatim, so the redactor searches for every form it is printed in
(`forms`): the value; each line of a multi-line value (a PEM key, a JSON document); escaped as
in JSON, in Python's repr, in a shell command (plans show commands through shlex), and in a
URL; base64-encoded; and, for a registry login, the base64 of `username:password` that HTTP
Basic auth sends. The escaped forms are applied once more on top of each other form, because a
URL-encoded token inside a JSON document is escaped twice.
"""

from __future__ import annotations

import base64
import json
import shlex
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Final

MASK: Final = "***"
# Very short values would mask ordinary words; such a value is still never printed by us
# directly, it just is not searched for in foreign text.
_MIN_REDACTABLE = 4
# A line of a multi-line value is searched for on its own only from this length. Short lines
# are structure ({, }, ---, true, null) that also appears in ordinary output, and masking it
# there would corrupt tables and JSON documents; lines that carry secret material are longer
# (a PEM body line has 64 characters, a password or token at least 8).
_MIN_LINE = 8

_lock = threading.Lock()
_known: set[str] = set()


def _shell_inside(text: str) -> str:
    """`text` as it appears inside shlex.quote's single quotes (the whole of it when no quoting
    was needed), so it is found within a quoted argument such as --password='...'."""
    return text.replace("'", "'\"'\"'")


# escapings a printed value goes through; each maps text to what is printed for it
_ESCAPES: tuple[Callable[[str], str], ...] = (
    lambda s: json.dumps(s)[1:-1],
    lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    lambda s: repr(s)[1:-1],
    _shell_inside,
    lambda s: shlex.quote(s),
    urllib.parse.quote,
    lambda s: urllib.parse.quote(s, safe=""),
    urllib.parse.quote_plus,
)


def _base64(text: str) -> list[str]:
    """Standard and URL-safe base64, without padding: the unpadded text is a prefix of the
    padded one, so masking it hides the encoding wherever it stands."""
    raw = text.encode()
    return [
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]


def forms(value: str, *, username: str | None = None) -> set[str]:
    """Every form of `value` the redactor searches for (see the module docstring)."""
    plain = {value}
    if "\n" in value or "\r" in value:
        plain |= {ln.strip() for ln in value.splitlines() if len(ln.strip()) >= _MIN_LINE}
    once = plain | {escape(p) for p in plain for escape in _ESCAPES} | set(_base64(value))
    if username is not None:
        once |= set(_base64(f"{username}:{value}"))
    twice = once | {escape(f) for f in once for escape in _ESCAPES}
    return {f for f in twice if len(f) >= _MIN_REDACTABLE}


def _add(found: Iterable[str]) -> None:
    with _lock:
        _known.update(found)


def register(value: str) -> None:
    if len(value) >= _MIN_REDACTABLE:
        _add(forms(value))


def register_login(username: str, password: Secret) -> None:
    """Also mask the Basic auth header of `username` with `password` (base64 of user:pass),
    which an HTTP library or a registry's error may print."""
    if len(password.reveal()) >= _MIN_REDACTABLE:
        _add(forms(password.reveal(), username=username))


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
