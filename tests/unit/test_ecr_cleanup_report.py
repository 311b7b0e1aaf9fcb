"""What `inv cleanup` on ECR tells the person running it (operations/ecr_cleanup.py show):
what goes and why, what is deployed where (never deleted), why the rest stays, the totals, and
ECR's refusals: a benign one (an index still references the image) is a warning, any other
makes the task fail after printing. Exact text, from a decided result (no AWS)."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from shipyard.adapters.ecr import ImageDetail
from shipyard.console import Console
from shipyard.errors import AwsError
from shipyard.operations import ecr_cleanup as ec

PUSHED = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)


def image(n: int, *tags: str) -> ImageDetail:
    return ImageDetail("sha256:" + str(n) * 64, tags, PUSHED)


OLD, UNTAGGED, LIVE, YOUNG, FRESH = (
    image(1, "0.0.1"),
    image(2),
    image(3, "0.0.9", "latest"),
    image(4, "sha-abc"),
    image(5),
)
DECISIONS = (
    ec.Decision(OLD, False, "release 0.0.1 older than the newest 1"),
    ec.Decision(UNTAGGED, False, "untagged: no release, older than 7 days"),
    ec.Decision(LIVE, True, "deployed"),
    ec.Decision(YOUNG, True, "sha-abc: younger than 7 days"),
    ec.Decision(FRESH, True, "untagged: younger than 7 days"),
)
DEPLOYED = (
    ec.DeployedImage(
        "staging", "gamepulse-staging", "running task", "srv/repo:latest", "latest", LIVE.digest
    ),
)
WARNING = "environment production: service x does not exist"
TABLES = (
    "      digest  tags    pushed (UTC)      why\n"
    "------------  ------  ----------------  ---------------------------------------\n"
    "111111111111  0.0.1   2026-01-02 03:04  release 0.0.1 older than the newest 1\n"
    "222222222222  -       2026-01-02 03:04  untagged: no release, older than 7 days\n"
    "deployed (never deleted)\n"
    "environment    service            seen in       image\n"
    "-------------  -----------------  ------------  ---------------\n"
    "staging        gamepulse-staging  running task  srv/repo:latest\n"
    "kept\n"
    "kept because           images\n"
    "-------------------  --------\n"
    "deployed                    1\n"
    "younger than 7 days         2\n"
)


def shown(result: ec.EcrCleanupResult) -> str:
    out = io.StringIO()
    ec.show(result, Console(out, out))
    return out.getvalue()


def test_a_dry_run_says_what_would_go_and_why_the_rest_stays() -> None:
    result = ec.EcrCleanupResult("srv/repo", DECISIONS, DEPLOYED, warnings=(WARNING,), dry_run=True)
    assert [d.image for d in result.to_delete] == [OLD, UNTAGGED]
    assert [d.image for d in result.kept] == [LIVE, YOUNG, FRESH]
    head = f"warning: {WARNING}\ndry run: would delete from srv/repo\n"  # noqa: S608
    tail = "srv/repo: 5 image(s), 3 kept, 2 would delete\ndry run: nothing was changed\n"
    assert shown(result) == head + TABLES + tail


def test_a_benign_refusal_is_a_warning_and_the_counts_are_what_went() -> None:
    result = ec.EcrCleanupResult(
        "srv/repo",
        DECISIONS,
        DEPLOYED,
        deleted=(OLD.digest,),
        failures=((UNTAGGED.digest, "ImageReferencedByManifestList", "in an index"),),
        warnings=(WARNING,),
        delete_calls=1,
    )
    assert result.ok
    head = f"warning: {WARNING}\ndeleted from srv/repo\n"
    tail = (
        "srv/repo: 5 image(s), 3 kept, 1 deleted in 1 call(s)\n"
        "warning: 222222222222 kept: ImageReferencedByManifestList (in an index)\n"
    )
    assert shown(result) == head + TABLES + tail


def test_any_other_refusal_fails_the_task_after_printing() -> None:
    result = ec.EcrCleanupResult(
        "srv/repo",
        DECISIONS,
        (),
        deleted=(),
        failures=(
            (OLD.digest, "ImageNotFound", "gone already"),
            (UNTAGGED.digest, "AccessDenied", "not authorized"),
        ),
        delete_calls=1,
    )
    assert not result.ok
    assert result.hard_failures == ((UNTAGGED.digest, "AccessDenied", "not authorized"),)
    out = io.StringIO()
    with pytest.raises(AwsError) as err:
        ec.show(result, Console(out, out))
    assert err.value.message == (
        "ECR refused to delete 1 image(s), e.g. 222222222222: AccessDenied not authorized"
    )
    assert "ecr:BatchDeleteImage" in (err.value.hint or "")
    assert "111111111111 kept: ImageNotFound (gone already)" in out.getvalue()
    assert "deployed (never deleted)" not in out.getvalue()
