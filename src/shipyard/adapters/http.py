"""Plain HTTP GETs for health checks (stdlib only: nothing to pool, nothing to configure)."""

from __future__ import annotations

import urllib.error
import urllib.request

from shipyard.records import record


@record
class HttpAnswer:
    status: int | None  # None: no HTTP answer at all
    body: str
    error: str = ""


def get(url: str, timeout: float) -> HttpAnswer:
    req = urllib.request.Request(url, headers={"User-Agent": "shipyard-verify"})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return HttpAnswer(resp.status, resp.read(65536).decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        body = exc.read(65536).decode("utf-8", "replace") if exc.fp else ""
        return HttpAnswer(exc.code, body)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return HttpAnswer(None, "", str(reason))
