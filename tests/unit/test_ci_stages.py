"""Which `inv ci` stages run: pure selection logic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.errors import UsageError
from shipyard.pipelines.ci import (
    NOX_STAGES,
    PUBLISH_STAGES,
    STAGES,
    parse_stage_list,
    select_stages,
)
from shipyard.pipelines.promote import LiveImage, release_tag_for
from tests.support.hypothesis_policy import PROPERTY

DEPLOY = ["main", "develop"]


def running(**kw: object) -> list[str]:
    return [d.name for d in select_stages(deploy_branches=DEPLOY, **kw) if d.run]  # type: ignore[arg-type]


def test_deploy_branch_runs_everything() -> None:
    assert running(branch="main", event="push") == list(STAGES)
    assert running(branch="develop", event=None) == list(STAGES)


def test_feature_branch_and_pull_request_never_publish() -> None:
    assert running(branch="feature/x", event="push") == list(STAGES[:-2])
    assert running(branch="main", event="pull_request") == list(STAGES[:-2])
    assert running(branch="main", event="pull_request", push=True) == list(STAGES[:-2])
    reasons = {
        d.name: d.why
        for d in select_stages(branch="feature/x", event="push", deploy_branches=DEPLOY)
    }
    assert reasons["push"] == "feature/x is not a deploy branch (main, develop)"


def test_flags_override_the_branch() -> None:
    assert "push" in running(branch="feature/x", event="push", push=True)
    assert "push" not in running(branch="main", event="push", push=False)


def test_nested_run_skips_nox_stages_to_avoid_recursion() -> None:
    decisions = select_stages(branch="main", event="push", deploy_branches=DEPLOY, nested=True)
    skipped = {d.name: d.why for d in decisions if not d.run}
    assert set(skipped) == set(NOX_STAGES)
    assert all("nested inside inv ci" in why for why in skipped.values())


def test_no_scanner_skips_scan_only() -> None:
    assert running(branch="main", event="push", scanner=False) == list(STAGES[:-1])


@PROPERTY
@given(
    branch=st.one_of(st.none(), st.sampled_from(["main", "develop", "feature/a", "release/1"])),
    event=st.sampled_from([None, "push", "pull_request", "workflow_dispatch"]),
    skip=st.lists(st.sampled_from(STAGES), unique=True),
    only=st.lists(st.sampled_from(STAGES), unique=True),
    push=st.sampled_from([None, True, False]),
    nested=st.booleans(),
)
def test_selection_invariants(
    branch: str | None,
    event: str | None,
    skip: list[str],
    only: list[str],
    push: bool | None,
    nested: bool,
) -> None:
    decisions = select_stages(
        branch=branch,
        event=event,
        deploy_branches=DEPLOY,
        skip=skip,
        only=only,
        push=push,
        nested=nested,
    )
    assert [d.name for d in decisions] == list(STAGES)  # order never changes
    ran = {d.name for d in decisions if d.run}
    assert not ran & set(skip)
    if only:
        assert ran <= set(only)
    if event == "pull_request" or push is False:
        assert not ran & PUBLISH_STAGES
    if nested:
        assert not ran & set(NOX_STAGES)
    assert all(d.why for d in decisions if not d.run)  # every skip is explained


def test_stage_lists_are_validated() -> None:
    assert parse_stage_list("lint, tests", "--skip") == ("lint", "tests")
    assert parse_stage_list(None, "--skip") == ()
    with pytest.raises(UsageError, match="--only: unknown stage 'deploy'"):
        parse_stage_list("build,deploy", "--only")


def test_a_prerelease_needs_an_explicit_release_tag_and_explicit_wins() -> None:
    live = LiveImage(
        "staging", "app", "sha256:ab", ("sha-abc1234", "1.4.1-develop.3", "20250101"), "x"
    )
    assert live.version == "1.4.1-develop.3"
    assert live.revision == "abc1234"
    with pytest.raises(UsageError, match=r"serves the prerelease 1\.4\.1-develop\.3"):
        release_tag_for(live, None)
    assert release_tag_for(live, "1.4.1") == "1.4.1"
    assert release_tag_for(live, "2.0.0") == "2.0.0"
    released = LiveImage("staging", "app", "sha256:ab", ("sha-abc1234", "1.5.0"), "x")
    assert release_tag_for(released, None) == "1.5.0"
    untagged = LiveImage("staging", "app", "sha256:ab", ("latest",), "x")
    with pytest.raises(UsageError, match="carries no version tag"):
        release_tag_for(untagged, None)
