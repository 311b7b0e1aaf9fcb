"""The ECS targets' records: tags on the task definition revisions themselves.

Every revision shipyard registers carries the release (version, digest, git revision, who) and
`shipyard:outcome`: pending (registered) -> shifting (the service was told to run it) ->
succeeded | failed | rolled_back | interrupted | superseded | unknown, written from what was
observed at the end: the outcome of the rollout that put the revision live. A rollback away from
a revision does not rewrite that (its rollout did succeed); it adds `shipyard:rolled-back-at`.
`status`, rollback choice and reconcile read these tags back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shipyard.adapters.ecs import EcsApi, family_of, revision_of, short_arn
from shipyard.errors import UsageError

if TYPE_CHECKING:
    from shipyard.console import Console

TAG = "shipyard:"
OUTCOME = f"{TAG}outcome"
VERSION = f"{TAG}version"
DIGEST = f"{TAG}digest"
DEPLOYED_AT = f"{TAG}deployed-at"
LEFT_AT = f"{TAG}rolled-back-at"  # a rollback left this revision (its own rollout's outcome stays)
UNSETTLED = ("pending", "shifting")  # a rollout that has not been given its outcome yet


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value) if value else None


def tag_safe(value: str) -> str:
    """ECS tag values allow letters, digits, spaces and _.:/=+-@ (max 256)."""
    return "".join(ch if ch.isalnum() or ch in " _.:/=+-@" else "-" for ch in value)[:256]


def is_revision_ref(to: str) -> bool:
    """12, family:12 or an ARN (a version such as 1.2.0 is none of these)."""
    return to.isdigit() or to.startswith("arn:") or (":" in to and not to[0].isdigit())


class Records:
    """Tags read once per revision and process (our own writes keep the cache true)."""

    def __init__(self, ecs: EcsApi, console: Console) -> None:
        self.ecs = ecs
        self.console = console
        self._tags: dict[str, dict[str, str]] = {}

    def tags(self, arn: str) -> dict[str, str]:
        if arn not in self._tags:
            self._tags[arn] = self.ecs.tags(arn)
        return self._tags[arn]

    def remember(self, arn: str, tags: Mapping[str, str]) -> None:
        self._tags[arn] = dict(tags)

    def outcome(self, arn: str) -> str | None:
        return self.tags(arn).get(OUTCOME)

    def write(self, arn: str, values: Mapping[str, str]) -> None:
        """Tag `arn`; a record that cannot be written is a warning, never the outcome."""
        try:
            self.ecs.tag(arn, values)
        except Exception as exc:  # shown; the next reconcile repairs the record
            self.console.warn(f"could not tag {short_arn(arn)}: {exc}")
        else:
            self._tags.setdefault(arn, {}).update(values)

    def settle(self, arn: str, outcome: str, *, live: bool = False) -> None:
        values = {OUTCOME: outcome}
        if live:
            values[DEPLOYED_AT] = now_iso()
            if self._tags.get(arn, {}).get(LEFT_AT):
                values[LEFT_AT] = ""  # live again: no longer a revision a rollback left
        self.write(arn, values)

    # -- rollback choice -----------------------------------------------------------------
    def resolve(self, service: str, current: str, to: str | None) -> tuple[str, dict[str, str]]:
        """The revision to return to: no argument, the newest EARLIER revision recorded
        succeeded that no rollback left since; a revision (12, family:12, an ARN); or a
        version, carried by a revision whose rollout succeeded (never a failed, pending or
        rolled-back one)."""
        family = family_of(current)
        if to and is_revision_ref(to):
            return self._named(family, to)
        seen: list[str] = []
        for arn in self.ecs.list_revisions(family):
            if arn == current:
                continue
            tags = self.tags(arn)
            good = tags.get(OUTCOME) == "succeeded"
            if to is None:
                if good and not tags.get(LEFT_AT) and revision_of(arn) < revision_of(current):
                    return arn, tags
                continue
            seen.append(f"{tags.get(VERSION, '?')} {tags.get(OUTCOME, 'unrecorded')}")
            if good and tags.get(VERSION) == to:
                return arn, tags
        if to is None:
            raise UsageError(
                f"{service}: no earlier revision of {family} is recorded as a good release",
                hint="name one: inv rollback --env ENV --to VERSION|REVISION",
            )
        known = ", ".join(dict.fromkeys(seen)) or "none recorded"
        raise UsageError(
            f"{service}: no revision of {family} whose rollout succeeded carries version {to!r}",
            hint=f"revisions found: {known}; or give a revision number",
        )

    def _named(self, family: str, to: str) -> tuple[str, dict[str, str]]:
        ref = f"{family}:{to}" if to.isdigit() else to
        doc, tags = self.ecs.describe_task_definition(ref)
        if doc.get("status") == "INACTIVE":
            raise UsageError(
                f"{short_arn(doc.get('taskDefinitionArn'))} is deregistered (INACTIVE)",
                hint="ECS cannot return a service to an INACTIVE revision",
            )
        arn = str(doc["taskDefinitionArn"])
        self.remember(arn, tags)
        if tags.get(OUTCOME) != "succeeded":
            self.console.warn(
                f"{short_arn(arn)} is recorded {tags.get(OUTCOME, 'without an outcome')}: "
                "returning to it because it was named"
            )
        return arn, tags

    # -- pruning -------------------------------------------------------------------------
    def prune(self, keep: int, protect: set[str], progress: Callable[[str], None]) -> None:
        """Keep the newest `keep` revisions of each family; never deregister what serves, what
        served before, or the newest earlier good revision (the rollback target)."""
        for family in dict.fromkeys(family_of(a) for a in protect):
            newest = max(revision_of(a) for a in protect if family_of(a) == family)
            if newest <= keep:
                continue  # a family with this few revisions ever cannot hold too many
            arns = self.ecs.list_revisions(family)
            if len(arns) <= keep:
                continue
            kept = set(protect)
            for arn in arns:
                if arn not in kept and self.outcome(arn) == "succeeded":
                    kept.add(arn)  # `inv rollback` returns here
                    break
            for arn in arns[keep:]:
                if arn not in kept:
                    self.ecs.deregister(arn)
                    progress(f"deregistered {short_arn(arn)} (keeping {keep})")

    # -- reading back ----------------------------------------------------------------------
    def history(self, family: str, serving: str | None, count: int = 5) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for arn in self.ecs.list_revisions(family)[:count]:
            tags = self.tags(arn)
            rows.append(
                {
                    "release_id": short_arn(arn),
                    "revision": short_arn(arn),
                    "version": tags.get(VERSION),
                    "digest": tags.get(DIGEST),
                    "commit": tags.get(f"{TAG}git-revision"),
                    "actor": tags.get(f"{TAG}actor"),
                    "outcome": tags.get(OUTCOME),
                    "deployed_at": tags.get(DEPLOYED_AT),
                    "rolled_back_at": tags.get(LEFT_AT),
                    "finished_at": tags.get(DEPLOYED_AT),
                    "live": arn == serving,
                }
            )
        return rows

    def newer(self, family: str, than: str | None) -> list[str]:
        """Revisions of `family` newer than `than` (all of them when None), oldest first."""
        floor = revision_of(than) if than else 0
        return sorted(
            (a for a in self.ecs.list_revisions(family) if revision_of(a) > floor),
            key=revision_of,
        )


def mismatch_of(service: str, serving: str | None, tags: Mapping[str, str], busy: bool) -> str:
    """Where the serving revision's record disagrees with it serving ('' when it agrees)."""
    if serving is None:
        return ""
    outcome = tags.get(OUTCOME)
    if outcome is None:
        return f"{service}: {short_arn(serving)} serves but was not deployed by shipyard"
    if outcome == "succeeded":
        return ""
    if outcome in UNSETTLED and busy:
        return ""  # a rollout under way: the record settles when it ends
    hint = " (inv wait --env ENV settles the record)" if outcome in UNSETTLED else ""
    return f"{service}: {short_arn(serving)} serves but is recorded {outcome}{hint}"
