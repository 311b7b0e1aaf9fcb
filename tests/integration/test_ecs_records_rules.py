"""The ECS records' exact rules (shipyard.targets.ecs_records) against botocore's Stubber (the real
ECS service model): which revision `inv rollback` picks and the exact words of each refusal and
warning, what prune deregisters and what it protects, the rows `inv status` shows, where a serving
revision's record disagrees with it serving, and the small helpers. Every AWS call a rule makes is
stubbed in order: a call the rule should not make fails the test."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.adapters.ecs import EcsApi
from shipyard.errors import UsageError
from shipyard.targets.ecs_records import (
    Records,
    is_revision_ref,
    iso,
    mismatch_of,
    now_iso,
    tag_safe,
)
from tests.support.ecs_stubs import FAMILY, Stubs, arn, creds, make_ctx
from tests.support.time_zone import local_time_zone

__all__ = ["creds"]  # the fixture these tests use

SVC = "gamepulse-staging"
WORKER_FAMILY = "gamepulse-staging-worker"


class Env:
    """Records over a stubbed ECS client, and what the console printed."""

    def __init__(self, stubs: Stubs, records: Records, out: io.StringIO) -> None:
        self.stubs = stubs
        self.records = records
        self.out = out

    def named(self, ref: str, taskdef: str, status: str = "ACTIVE", **tags: str) -> None:
        listed = [{"key": f"shipyard:{k}", "value": v} for k, v in tags.items()]
        self.stubs.ecs.add_response(
            "describe_task_definition",
            {"taskDefinition": {"taskDefinitionArn": taskdef, "status": status}, "tags": listed},
            {"taskDefinition": ref, "include": ["TAGS"]},
        )

    def deregister(self, taskdef: str) -> None:
        self.stubs.ecs.add_response("deregister_task_definition", {}, {"taskDefinition": taskdef})


@pytest.fixture
def env(tmp_path: Path, creds: None) -> Iterator[Env]:
    ctx, out = make_ctx(tmp_path, "staging", "https://staging.example.com")
    stubs = Stubs(ctx)
    with stubs:
        yield Env(stubs, Records(EcsApi(ctx.aws), ctx.console), out)
        stubs.done()


# -- resolve: no argument ---------------------------------------------------------------------
def test_no_argument_refusal_names_the_family_and_how_to_name_one(env: Env) -> None:
    current = arn(FAMILY, 5)
    env.stubs.revisions(FAMILY, current, arn(FAMILY, 4), arn(FAMILY, 3))
    env.stubs.tags(arn(FAMILY, 4), version="1.1.0", outcome="failed")
    env.stubs.tags(arn(FAMILY, 3), version="1.0.0", outcome="succeeded", **{"rolled-back-at": "x"})

    with pytest.raises(UsageError) as err:
        env.records.resolve(SVC, current, None)

    assert str(err.value) == (
        "gamepulse-staging: no earlier revision of gamepulse-staging is recorded as a good release"
    )
    assert err.value.hint == "name one: inv rollback --env ENV --to VERSION|REVISION"


# -- resolve: --to VERSION --------------------------------------------------------------------
def test_version_refusal_lists_each_revision_found_with_placeholders(env: Env) -> None:
    """A revision without a version shows '?', one without an outcome 'unrecorded'; the same
    pair twice is listed once."""
    current = arn(FAMILY, 6)
    env.stubs.revisions(FAMILY, current, arn(FAMILY, 5), arn(FAMILY, 4), arn(FAMILY, 3))
    env.stubs.tags(arn(FAMILY, 5), outcome="succeeded")
    env.stubs.tags(arn(FAMILY, 4), version="1.0.0")
    env.stubs.tags(arn(FAMILY, 3), version="1.0.0")

    with pytest.raises(UsageError) as err:
        env.records.resolve(SVC, current, "1.0.0")

    assert str(err.value) == (
        "gamepulse-staging: no revision of gamepulse-staging whose rollout succeeded "
        "carries version '1.0.0'"
    )
    assert err.value.hint == (
        "revisions found: ? succeeded, 1.0.0 unrecorded; or give a revision number"
    )


# -- resolve: a named revision ----------------------------------------------------------------
def test_a_revision_number_is_looked_up_in_the_current_family(env: Env) -> None:
    taskdef = arn(FAMILY, 3)
    env.named(f"{FAMILY}:3", taskdef, version="1.0.0", outcome="succeeded")

    chosen, tags = env.records.resolve(SVC, arn(FAMILY, 5), "3")

    assert chosen == taskdef
    assert tags["shipyard:version"] == "1.0.0"
    assert "warning" not in env.out.getvalue()
    # its tags are remembered: reading them back asks AWS nothing more
    assert env.records.outcome(taskdef) == "succeeded"


def test_an_arn_is_looked_up_as_given(env: Env) -> None:
    taskdef = arn(FAMILY, 2)
    env.named(taskdef, taskdef, version="0.9.0", outcome="succeeded")

    chosen, _ = env.records.resolve(SVC, arn(FAMILY, 5), taskdef)

    assert chosen == taskdef
    assert env.out.getvalue() == ""


def test_a_named_revision_not_recorded_succeeded_is_returned_to_with_a_warning(env: Env) -> None:
    failed, bare = arn(FAMILY, 3), arn(FAMILY, 2)
    env.named(f"{FAMILY}:3", failed, version="1.0.0", outcome="failed")
    env.named(f"{FAMILY}:2", bare)

    assert env.records.resolve(SVC, arn(FAMILY, 5), "3")[0] == failed
    assert env.records.resolve(SVC, arn(FAMILY, 5), "2")[0] == bare

    out = env.out.getvalue()
    assert "gamepulse-staging:3 is recorded failed: returning to it because it was named" in out
    assert (
        "gamepulse-staging:2 is recorded without an outcome: returning to it because it was named"
        in out
    )
    assert env.records.outcome(failed) == "failed"


def test_a_deregistered_revision_is_refused_with_its_name_and_why(env: Env) -> None:
    taskdef = arn(FAMILY, 3)
    env.named(f"{FAMILY}:3", taskdef, "INACTIVE", version="1.0.0", outcome="succeeded")

    with pytest.raises(UsageError) as err:
        env.records.resolve(SVC, arn(FAMILY, 5), "3")

    assert str(err.value) == "gamepulse-staging:3 is deregistered (INACTIVE)"
    assert err.value.hint == "ECS cannot return a service to an INACTIVE revision"


# -- is_revision_ref ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("12", True),
        ("gamepulse-staging:12", True),
        ("g2-staging:3", True),
        (arn(FAMILY, 4), True),
        ("1.2.0", False),
        ("v1.2.0", False),
        ("1.2.0:rc1", False),
    ],
)
def test_what_counts_as_a_revision_reference(to: str, expected: bool) -> None:
    assert is_revision_ref(to) is expected


# -- prune ------------------------------------------------------------------------------------
class InOrder(set[str]):
    """A protect set whose families are walked in the order given (a set's own order is the
    string hash's, which changes from run to run)."""

    def __init__(self, items: list[str]) -> None:
        super().__init__(items)
        self.order = items

    def __iter__(self) -> Iterator[str]:
        return iter(self.order)


def test_prune_keeps_the_newest_earlier_good_revision_beyond_keep(env: Env) -> None:
    """keep 1: :9 serves (recorded succeeded), :8 failed, :7 succeeded (the rollback target),
    :6 succeeded too. Only :8 and :6 are deregistered."""
    revs = [arn(FAMILY, n) for n in (9, 8, 7, 6)]
    env.stubs.revisions(FAMILY, *revs)
    env.stubs.tags(revs[1], outcome="failed")
    env.stubs.tags(revs[2], outcome="succeeded")
    env.deregister(revs[1])
    env.deregister(revs[3])
    said: list[str] = []

    env.records.prune(1, {revs[0]}, said.append)

    assert said == [
        "deregistered gamepulse-staging:8 (keeping 1)",
        "deregistered gamepulse-staging:6 (keeping 1)",
    ]


def test_prune_asks_nothing_of_a_family_with_no_more_revisions_than_keep(env: Env) -> None:
    """The worker family's newest is :3 with keep 3 (never listed); the API family lists
    exactly 3 (nothing read, nothing deregistered); a third family after them is still pruned."""
    other = "gamepulse-staging-jobs"
    api = [arn(FAMILY, n) for n in (9, 8, 7)]
    jobs = [arn(other, n) for n in (5, 4, 3, 2)]
    env.stubs.revisions(FAMILY, *api)
    env.stubs.revisions(other, *jobs)
    env.stubs.tags(jobs[1], outcome="succeeded")
    env.deregister(jobs[3])
    said: list[str] = []

    env.records.prune(3, InOrder([arn(WORKER_FAMILY, 3), api[0], jobs[0]]), said.append)

    assert said == ["deregistered gamepulse-staging-jobs:2 (keeping 3)"]


# -- history ----------------------------------------------------------------------------------
def test_history_rows_show_five_revisions_with_every_record(env: Env) -> None:
    revs = [arn(FAMILY, n) for n in (9, 8, 7, 6, 5, 4)]
    env.stubs.revisions(FAMILY, *revs)
    env.stubs.tags(
        revs[0],
        version="1.2.0",
        digest="sha256:ab",
        **{
            "git-revision": "c0ffee",
            "actor": "alice",
            "outcome": "succeeded",
            "deployed-at": "2026-01-01T00:05:00Z",
            "rolled-back-at": "2026-01-02T00:00:00Z",
        },
    )
    for rev in revs[1:5]:
        env.stubs.tags(rev)

    rows = env.records.history(FAMILY, revs[1])

    assert len(rows) == 5
    assert rows[0] == {
        "release_id": "gamepulse-staging:9",
        "revision": "gamepulse-staging:9",
        "version": "1.2.0",
        "digest": "sha256:ab",
        "commit": "c0ffee",
        "actor": "alice",
        "outcome": "succeeded",
        "deployed_at": "2026-01-01T00:05:00Z",
        "rolled_back_at": "2026-01-02T00:00:00Z",
        "finished_at": "2026-01-01T00:05:00Z",
        "live": False,
    }
    assert [r["live"] for r in rows] == [False, True, False, False, False]
    assert rows[4]["revision"] == "gamepulse-staging:5"


# -- mismatch_of ------------------------------------------------------------------------------
def test_mismatch_words() -> None:
    serving = arn(FAMILY, 5)
    pending = {"shipyard:outcome": "pending"}
    failed = {"shipyard:outcome": "failed"}
    assert mismatch_of(SVC, None, {}, False) == ""
    assert mismatch_of(SVC, serving, {"shipyard:outcome": "succeeded"}, False) == ""
    assert mismatch_of(SVC, serving, pending, True) == ""
    assert mismatch_of(SVC, serving, {}, False) == (
        "gamepulse-staging: gamepulse-staging:5 serves but was not deployed by shipyard"
    )
    assert mismatch_of(SVC, serving, pending, False) == (
        "gamepulse-staging: gamepulse-staging:5 serves but is recorded pending"
        " (inv wait --env ENV settles the record)"
    )
    assert mismatch_of(SVC, serving, failed, False) == (
        "gamepulse-staging: gamepulse-staging:5 serves but is recorded failed"
    )
    assert mismatch_of(SVC, serving, failed, True) == (
        "gamepulse-staging: gamepulse-staging:5 serves but is recorded failed"
    )


# -- iso --------------------------------------------------------------------------------------
@pytest.fixture
def seoul() -> Iterator[None]:
    """The machine's local time zone is Asia/Seoul (UTC+9) for the test."""
    with local_time_zone("Asia/Seoul"):
        yield


def test_iso_writes_utc_whatever_the_local_zone(seoul: None) -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert iso(dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=plus_two)) == "2026-03-04T03:06:07Z"
    assert iso("2026-03-04") == "2026-03-04"
    assert iso("") is None
    assert iso(None) is None


def test_now_iso_is_the_utc_time_in_the_form_tags_carry(seoul: None) -> None:
    """The deployed-at and rolled-back-at tags: UTC to the second, ending in Z, whatever the
    machine's zone (Seoul is 9 hours ahead here)."""
    written = now_iso()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", written)
    when = dt.datetime.strptime(written, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert abs((dt.datetime.now(dt.UTC) - when).total_seconds()) < 5


def test_a_tag_value_keeps_what_ecs_allows_and_is_cut_at_256() -> None:
    assert tag_safe("feature/x#1 (rc) a_b.c:d=e+f-g@h") == "feature/x-1 -rc- a_b.c:d=e+f-g@h"
    assert tag_safe("é") == "é"  # a letter, in any script
    assert tag_safe("a" * 300) == "a" * 256


# -- writing a record and the revisions after one -----------------------------------------
def test_a_record_that_cannot_be_written_is_a_warning_naming_the_revision(env: Env) -> None:
    """The outcome is never lost to a failed TagResource: it warns, naming the revision and
    ECS's error, and the revision's cached tags stay as they were; a written one updates them."""
    five = arn(FAMILY, 5)
    env.records.remember(five, {"shipyard:outcome": "pending"})
    env.stubs.ecs.add_client_error("tag_resource", "AccessDeniedException", "not allowed")
    env.records.write(five, {"shipyard:outcome": "succeeded"})
    assert env.out.getvalue() == (
        "warning: could not tag gamepulse-staging:5: ecs:TagResource gamepulse-staging:5: "
        "access denied: these credentials may not perform ecs:TagResource\n"
    )
    assert env.records.outcome(five) == "pending"
    env.stubs.tag(five)
    env.records.write(five, {"shipyard:outcome": "succeeded"})
    assert env.records.outcome(five) == "succeeded"


@pytest.mark.parametrize(
    ("than", "expected"),
    [(None, [1, 2, 9, 10, 11]), (9, [10, 11]), (11, [])],
    ids=["all", "after 9", "after the newest"],
)
def test_the_revisions_newer_than_one_are_listed_oldest_first_by_number(
    env: Env, than: int | None, expected: list[int]
) -> None:
    """By revision number, not text (10 after 9); `than` itself is not listed; with none given,
    every revision is, the first one too."""
    env.stubs.revisions(FAMILY, *(arn(FAMILY, n) for n in (11, 10, 9, 2, 1)))
    found = env.records.newer(FAMILY, arn(FAMILY, than) if than else None)
    assert found == [arn(FAMILY, n) for n in expected]
