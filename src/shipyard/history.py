"""Per-environment release history: what was released, when, by whom, and how it ended.

One JSON file per environment (<state_dir>/history.json), rewritten whole through
fsutil.write_json_atomically (temp file, fsync, rename), so a kill -9 at any moment leaves
either the previous or the next content, never a torn file. Only the holder of the
environment's deploy lock writes it; readers need no lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import secrets
from collections.abc import Mapping
from dataclasses import MISSING, Field, asdict, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from shipyard.errors import ShipyardError
from shipyard.fsutil import write_json_atomically
from shipyard.records import record

RecordOutcome = Literal[
    "in_progress",
    "shifting",
    "finalizing",
    "succeeded",
    "failed",
    "rolled_back",
    "interrupted",
    "unknown",
    "superseded",
]
UNFINISHED = ("in_progress", "shifting", "finalizing")
FILE_NAME = "history.json"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def current_actor(environ: Mapping[str, str]) -> str:
    """Who releases: the CI actor, else the user running shipyard."""
    found = environ.get("GITHUB_ACTOR") or environ.get("USER") or environ.get("LOGNAME")
    if not found:
        with contextlib.suppress(Exception):
            found = getpass.getuser()
    return found or "unknown"


def new_release_id() -> str:
    """Sortable by time, unique enough for one environment, valid in Docker names."""
    return dt.datetime.now(dt.UTC).strftime("r%Y%m%d%H%M%S") + secrets.token_hex(2)


@record
class Release:
    release_id: str
    version: str
    digest: str  # manifest digest the image is pinned by
    image: str  # the reference deployed
    taskdef_hash: str
    commit: str
    actor: str
    started_at: str
    kind: Literal["deploy", "rollback", "recovered", "down"] = "deploy"
    outcome: RecordOutcome = "in_progress"
    finished_at: str | None = None
    message: str = ""
    image_id: str = ""  # local image id (config digest), what cleanup keeps
    replaces: str | None = None  # the release that was live when this one started
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Release:
        """A record as stored; ValueError when it is not of a record's shape."""
        if not isinstance(data, dict):
            raise ValueError(f"a release record is a JSON object, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        # every field without a default is required: one missing would be a TypeError
        missing = [f.name for f in fields(cls) if _required(f) and f.name not in data]
        if missing:
            raise ValueError(f"a release record lacks {', '.join(missing)}")
        wrong = [k for k in _REQUIRED if not isinstance(data[k], str)]
        if wrong:
            raise ValueError(f"release record field {wrong[0]} is not a string")
        return cls(**{k: v for k, v in data.items() if k in known})


_REQUIRED = ("release_id", "version", "digest", "image", "started_at")


def _required(f: Field[Any]) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


@record
class HistoryState:
    live: str | None  # release id the proxy serves
    releases: tuple[Release, ...]  # oldest first

    def get(self, release_id: str | None) -> Release | None:
        if release_id is None:
            return None
        return next((r for r in self.releases if r.release_id == release_id), None)

    @property
    def live_release(self) -> Release | None:
        return self.get(self.live)

    def newest_first(self) -> list[Release]:
        return list(reversed(self.releases))

    def succeeded_versions(self) -> list[str]:
        seen: list[str] = []
        for r in self.newest_first():
            if r.outcome == "succeeded" and r.kind != "down" and r.version not in seen:
                seen.append(r.version)
        return seen

    def rollback_target(self) -> Release | None:
        """The previous good release: the newest succeeded one that is not live, not the same
        image as live, and not an image a later rollback moved away from."""
        live = self.live_release
        abandoned: set[str] = set()
        for r in self.newest_first():
            if r.kind == "rollback" and r.outcome == "succeeded":
                replaced = self.get(r.replaces)
                if replaced is not None:
                    abandoned.add(replaced.digest)
            if r.outcome != "succeeded" or r.kind == "down" or r.release_id == self.live:
                continue
            if live is not None and r.digest == live.digest:
                continue
            if r.digest in abandoned:
                continue
            return r
        return None

    def latest_succeeded(self, version: str) -> Release | None:
        return next(
            (
                r
                for r in self.newest_first()
                if r.version == version and r.outcome == "succeeded" and r.kind != "down"
            ),
            None,
        )


class HistoryUnreadable(ShipyardError):
    """history.json cannot be read or is not of a history's shape."""


def _parse(text: str) -> HistoryState:
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(f"expected a JSON object, found {type(raw).__name__}")
    releases = raw.get("releases", [])
    if not isinstance(releases, list):
        raise ValueError("releases is not a list")
    live = raw.get("live")
    if live is not None and not isinstance(live, str):
        raise ValueError("live is not a release id")
    return HistoryState(live, tuple(Release.from_dict(r) for r in releases))


class History:
    def __init__(self, state_dir: Path, environment: str) -> None:
        self.path = state_dir / FILE_NAME
        self.environment = environment

    def read(self) -> HistoryState:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return HistoryState(None, ())
        except OSError as exc:
            raise HistoryUnreadable(f"{self.path}: release history is unreadable: {exc}") from None
        try:
            return _parse(raw.decode("utf-8"))  # UnicodeDecodeError is a ValueError
        except ValueError as exc:
            raise HistoryUnreadable(
                f"{self.path}: release history is corrupt: {exc}",
                hint="the next deploy, rollback or `inv wait` keeps it aside and rebuilds the "
                "records from what serves; nothing serving is stopped",
            ) from None

    def set_aside(self) -> Path | None:
        """Move an unreadable history out of the way (kept for inspection); returns where."""
        if not self.path.exists():
            return None
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{FILE_NAME}.corrupt-{stamp}")
        self.path.replace(aside)
        return aside

    def _write(self, state: HistoryState) -> None:
        write_json_atomically(
            self.path,
            {
                "environment": self.environment,
                "live": state.live,
                "releases": [r.as_dict() for r in state.releases],
            },
        )

    def begin(self, release: Release) -> None:
        state = self.read()
        self._write(HistoryState(state.live, (*state.releases, release)))

    def finish(
        self,
        release_id: str,
        outcome: RecordOutcome,
        *,
        message: str | None = None,
        live: str | Literal[False] | None = False,
        **details: Any,
    ) -> Release:
        """Set a release's outcome (and, unless live is False, which release is live) in one
        atomic write."""
        state = self.read()
        updated: list[Release] = []
        found: Release | None = None
        for r in state.releases:
            if r.release_id == release_id:
                r = replace(
                    r,
                    outcome=outcome,
                    finished_at=now_iso(),
                    message=r.message if message is None else message,
                    details={**r.details, **details},
                )
                found = r
            updated.append(r)
        if found is None:
            raise HistoryUnreadable(f"release {release_id} is not in {self.path}")
        new_live = state.live if live is False else live
        self._write(HistoryState(new_live, tuple(updated)))
        return found

    def set_live(self, release_id: str | None) -> None:
        state = self.read()
        if state.live != release_id:
            self._write(HistoryState(release_id, state.releases))

    def mark(self, release_id: str, outcome: RecordOutcome) -> None:
        """Move an unfinished record on (in_progress -> shifting -> finalizing)."""
        state = self.read()
        releases = tuple(
            replace(r, outcome=outcome) if r.release_id == release_id else r for r in state.releases
        )
        self._write(HistoryState(state.live, releases))

    def unfinished(self) -> list[Release]:
        """Records a process left under way: it was killed before it could finish them."""
        return [r for r in self.read().releases if r.outcome in UNFINISHED]
