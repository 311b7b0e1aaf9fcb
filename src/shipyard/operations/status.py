"""inv status: what is live in an environment and what came before."""

from __future__ import annotations

from typing import Any

from shipyard.console import Console
from shipyard.context import Context
from shipyard.targets import get_target
from shipyard.targets.base import StatusReport

SHOWN_HISTORY = 10


def run(ctx: Context) -> StatusReport:
    return get_target(ctx).status()


def as_json(report: StatusReport) -> dict[str, Any]:
    """version/digest/release_id are what is observed to serve; `live` is what the records
    say, and `mismatch` says where the two disagree."""
    live = report.live or {}
    seen = report.observed or {}
    return {
        "environment": report.environment,
        "url": report.url,
        "version": seen.get("version", live.get("version")),
        "digest": seen.get("digest", live.get("digest")),
        "release_id": seen.get("release_id", live.get("release_id")),
        "since": live.get("since"),
        "observed": report.observed,
        "mismatch": report.mismatch,
        "live": report.live,
        "history": report.history,
    }


def _show_observed(report: StatusReport, console: Console) -> None:
    seen = report.observed
    if not seen:
        return
    if not seen.get("known"):
        serving = "unknown"
    elif seen.get("release_id") is None:
        serving = "nothing"
    else:
        serving = f"{seen.get('version') or '?'} ({seen.get('release_id')})"
    console.line(f"{report.environment}: serving {serving} - {seen.get('detail', '')}")
    if report.mismatch:
        console.warn(f"mismatch: {report.mismatch}")
    containers = seen.get("containers") or []
    if containers:
        console.table(
            ["container", "status", "health", "restarts"],
            [
                [c.get("name"), c.get("status"), c.get("health") or "-", c.get("restarts", 0)]
                for c in containers
            ],
            title="containers",
            summary=False,
        )


def show(report: StatusReport, console: Console) -> None:
    _show_observed(report, console)
    live = report.live
    if live is None:
        console.line(f"{report.environment}: the records name nothing live ({report.url})")
    else:
        console.table(
            ["environment", "url", "version", "digest", "release", "since", "by"],
            [
                [
                    report.environment,
                    report.url,
                    live.get("version"),
                    str(live.get("digest", ""))[:19],
                    live.get("release_id"),
                    live.get("since"),
                    live.get("actor"),
                ]
            ],
            title="live (records)",
        )
    if report.history:
        rows = []
        for r in report.history[:SHOWN_HISTORY]:
            mark = (
                "live" if r.get("live") else ("rollback target" if r.get("rollback_target") else "")
            )
            rows.append(
                [
                    r.get("release_id"),
                    r.get("kind"),
                    r.get("version"),
                    str(r.get("digest", ""))[:19],
                    r.get("outcome"),
                    r.get("finished_at") or r.get("started_at"),
                    str(r.get("commit", ""))[:7],
                    r.get("actor"),
                    mark,
                ]
            )
        console.table(
            ["release", "kind", "version", "digest", "outcome", "time", "commit", "by", ""],
            rows,
            title="history (newest first)",
        )
