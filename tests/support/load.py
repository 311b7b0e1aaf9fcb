"""A steady stream of GET <url>/version requests from a background thread, each on a new
connection with a 2 s timeout, recording what every one of them got back."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from types import TracebackType
from typing import NamedTuple

LOOPBACK = ("127.0.0.1", "localhost")
REQUEST_TIMEOUT = 2.0
RELEASE_HEADER = "X-Shipyard-Release"
# no http_proxy/https_proxy from the environment: the requests go straight to the loopback URL
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Answer(NamedTuple):
    """One request: when it finished (time.monotonic), its status (None: no HTTP answer at
    all), the body stripped of surrounding whitespace, and the X-Shipyard-Release header."""

    t: float
    status: int | None
    body: str
    release: str | None


def _get(url: str) -> Answer:
    """GET url once; an HTTP error status is an answer, a connection failure is status None."""
    try:
        with _OPENER.open(url, timeout=REQUEST_TIMEOUT) as resp:
            body = resp.read().decode(errors="replace").strip()
            return Answer(
                time.monotonic(), int(resp.status), body, resp.headers.get(RELEASE_HEADER)
            )
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace").strip()
        return Answer(time.monotonic(), int(exc.code), body, exc.headers.get(RELEASE_HEADER))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Answer(time.monotonic(), None, f"{type(exc).__name__}: {exc}", None)


class Load:
    """GET url + "/version" `rate` times a second until stop() or `max_seconds` have passed.

    One request at a time: an answer slower than the interval delays the next request (the
    schedule never bursts to catch up), so a hanging service lowers the rate to one per 2 s.
    """

    def __init__(self, url: str, rate: float = 30.0, max_seconds: float = 300.0) -> None:
        host = urllib.parse.urlsplit(url).hostname
        if host not in LOOPBACK:
            raise ValueError(f"Load only sends to loopback URLs, not {url!r}")
        if rate <= 0 or max_seconds <= 0:
            raise ValueError("rate and max_seconds must be positive")
        self.url = url.rstrip("/") + "/version"
        self.interval = 1.0 / rate
        self.max_seconds = max_seconds
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def _run(self) -> None:
        """Send on a fixed schedule until stopped or out of time."""
        started = time.monotonic()
        next_at = started
        while not self._stop.is_set() and time.monotonic() - started < self.max_seconds:
            answer = _get(self.url)
            with self._lock:
                self._answers.append(answer)
            next_at = max(next_at + self.interval, time.monotonic())
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> Load:
        """Start sending; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending and wait for the request in flight (at most its timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(REQUEST_TIMEOUT + 5)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def records(self) -> list[Answer]:
        """Every answer so far, in order."""
        with self._lock:
            return list(self._answers)

    def failed(self) -> list[Answer]:
        """The requests that got no HTTP answer or a 5xx."""
        return [a for a in self.records() if a.status is None or a.status >= 500]

    def failed_seconds(self) -> float:
        """Seconds from the first failure to the last one; 0.0 without failures."""
        failures = self.failed()
        return failures[-1].t - failures[0].t if failures else 0.0

    def succeeded(self) -> list[Answer]:
        """The requests answered with a 2xx."""
        return [a for a in self.records() if a.status is not None and 200 <= a.status < 300]

    def last_version(self) -> str | None:
        """The body of the last 2xx answer; None before there is one."""
        ok = self.succeeded()
        return ok[-1].body if ok else None

    def versions(self) -> list[str]:
        """The distinct bodies of 2xx answers, in the order they were first seen."""
        return list(dict.fromkeys(a.body for a in self.succeeded()))

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
