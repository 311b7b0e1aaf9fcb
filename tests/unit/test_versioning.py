"""Version rules: parsing, explicit bumps, GamePulse's --bump auto, tags, previous release."""

from __future__ import annotations

import datetime as dt

import pytest
import semver
from hypothesis import given
from hypothesis import strategies as st

from shipyard.config.model import TagsConfig
from shipyard.errors import UsageError, VersionError
from shipyard.tags import compute_tags
from shipyard.versioning import (
    GitState,
    branch_label,
    bump,
    docker_tag,
    from_docker_tag,
    parse,
    previous_release,
)
from tests.support.hypothesis_policy import PROPERTY

numbers = st.integers(min_value=0, max_value=10_000)
identifiers = st.from_regex(r"\A[a-z][a-z0-9-]{0,8}\Z")
releases = st.builds(semver.Version, numbers, numbers, numbers)
prereleases = st.builds(
    lambda v, label, n: v.replace(prerelease=f"{label}.{n}"), releases, identifiers, numbers
)
versions = st.one_of(releases, prereleases)
branches = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9/_.-]{0,30}\Z").filter(
    lambda b: b not in ("main", "master")
)


@PROPERTY
@given(versions)
def test_parse_round_trips_every_version(version: semver.Version) -> None:
    assert parse(str(version)) == version
    assert parse(f"v{version}\n") == version


@pytest.mark.parametrize("text", ["", "1", "1.2", "1.2.x", "01.2.3", "1.2.3-", "latest", "v"])
def test_parse_rejects_what_is_not_semver_naming_the_source(text: str) -> None:
    with pytest.raises(VersionError) as info:
        parse(text, source="version.txt")
    assert info.value.exit_code == 2
    assert info.value.one_line().startswith("version.txt: ")
    assert "\n" not in info.value.one_line()


@PROPERTY
@given(versions, st.sampled_from(["major", "minor", "patch"]))
def test_explicit_bump_is_a_newer_release(version: semver.Version, how: str) -> None:
    new = bump(version, how)
    assert new > version
    assert new.prerelease is None
    assert new.build is None


@PROPERTY
@given(releases)
def test_explicit_bumps_move_exactly_one_part(version: semver.Version) -> None:
    assert bump(version, "major") == semver.Version(version.major + 1, 0, 0)
    assert bump(version, "minor") == semver.Version(version.major, version.minor + 1, 0)
    assert bump(version, "patch") == semver.Version(version.major, version.minor, version.patch + 1)


def test_a_prerelease_bumped_by_patch_becomes_its_release() -> None:
    assert bump(parse("1.4.1-develop.7"), "patch") == parse("1.4.1")
    assert bump(parse("1.4.1-develop.7"), "minor") == parse("1.5.0")


@PROPERTY
@given(versions, numbers)
def test_auto_on_main_is_the_next_minor_release(version: semver.Version, run: int) -> None:
    new = bump(version, "auto", GitState("main", None, run))
    assert new == version.next_version("minor")
    assert new > version
    assert new.prerelease is None


@PROPERTY
@given(releases, branches, numbers)
def test_auto_on_another_branch_is_the_next_patch_as_prerelease(
    version: semver.Version, branch: str, run: int
) -> None:
    new = bump(version, "auto", GitState(branch, None, run))
    assert new > version
    assert new.finalize_version() == version.bump_patch()
    assert new.prerelease == f"{branch_label(branch)}.{run}"


@PROPERTY
@given(releases, numbers, numbers)
def test_auto_on_develop_keeps_the_release_of_an_earlier_develop_build(
    version: semver.Version, first: int, second: int
) -> None:
    once = bump(version, "auto", GitState("develop", None, first))
    twice = bump(once, "auto", GitState("develop", None, second))
    assert twice.finalize_version() == once.finalize_version()
    assert twice.prerelease == f"develop.{second}"


def test_the_gamepulse_examples() -> None:
    assert str(bump(parse("1.4.0"), "auto", GitState("develop", None, 7))) == "1.4.1-develop.7"
    assert str(bump(parse("1.4.0"), "auto", GitState("main", None, 7))) == "1.5.0"
    assert str(bump(parse("1.4.0"), "auto", GitState("develop", "v2.0.3", 7))) == "2.0.3"


@PROPERTY
@given(versions, releases, st.one_of(st.none(), st.just("main"), branches))
def test_auto_on_a_version_tag_checkout_is_exactly_the_tag(
    version: semver.Version, tagged: semver.Version, branch: str | None
) -> None:
    assert bump(version, "auto", GitState(branch, f"v{tagged}", 1)) == tagged


def test_auto_on_a_detached_checkout_without_tag_says_what_to_do() -> None:
    with pytest.raises(VersionError, match="detached") as info:
        bump(parse("1.0.0"), "auto", GitState(None, None, 1))
    assert "GITHUB_REF_NAME" in (info.value.hint or "")


def test_unknown_bump_is_a_usage_error() -> None:
    with pytest.raises(VersionError, match="unknown bump"):
        bump(parse("1.0.0"), "huge")


@PROPERTY
@given(branches)
def test_branch_label_is_a_valid_prerelease_identifier(branch: str) -> None:
    label = branch_label(branch)
    assert parse(f"1.0.0-{label}.1").prerelease == f"{label}.1"


@PROPERTY
@given(versions)
def test_docker_tag_round_trips(version: semver.Version) -> None:
    assert from_docker_tag(docker_tag(version)) == version


@PROPERTY
@given(st.lists(versions, max_size=8), versions)
def test_previous_release_is_the_newest_not_newer_version(
    history: list[semver.Version], current: semver.Version
) -> None:
    tags = [docker_tag(v) for v in history] + ["latest", "sha-abc1234", "20240101"]
    chosen = previous_release(tags, current)
    older = [v for v in history if v <= current]
    if not older:
        assert chosen is None
    else:
        assert chosen is not None
        assert from_docker_tag(chosen) == max(older)


# -- tag strategy ------------------------------------------------------------------------------

WHEN = dt.datetime(2024, 3, 9, 23, 30, tzinfo=dt.UTC)
SHA = "0123456789abcdef0123456789abcdef01234567"


@PROPERTY
@given(versions, st.one_of(st.none(), st.booleans()), st.booleans())
def test_latest_only_when_asked_and_never_for_a_prerelease(
    version: semver.Version, flag: bool | None, default: bool
) -> None:
    strategy = TagsConfig(latest=default)
    tags = compute_tags(strategy, version, git_sha=SHA, when=WHEN, latest=flag).tags
    asked = default if flag is None else flag
    assert ("latest" in tags) == (asked and version.prerelease is None)


def test_a_refused_latest_is_explained() -> None:
    plan = compute_tags(TagsConfig(), parse("1.0.1-develop.3"), git_sha=SHA, when=WHEN, latest=True)
    assert "latest" not in plan.tags
    assert plan.notes == ("latest not applied: 1.0.1-develop.3 is a prerelease",)


def test_templates_fill_version_sha_date_and_branch() -> None:
    strategy = TagsConfig(templates=["{version}", "sha-{git_sha}", "{date}", "{branch}-{git_sha}"])
    plan = compute_tags(
        strategy, parse("1.2.3+build.5"), git_sha=SHA, when=WHEN, branch="feature/Login"
    )
    assert plan.tags == ("1.2.3_build.5", "sha-0123456", "20240309", "feature-login-0123456")


def test_date_is_utc() -> None:
    seoul = dt.timezone(dt.timedelta(hours=9))
    when = dt.datetime(2024, 3, 10, 1, 0, tzinfo=seoul)  # still the 9th in UTC
    plan = compute_tags(TagsConfig(templates=["{date}"]), parse("1.0.0"), git_sha=SHA, when=when)
    assert plan.tags == ("20240309",)


@PROPERTY
@given(versions, st.from_regex(r"\A[0-9a-f]{40}\Z"), st.one_of(st.none(), branches))
def test_every_computed_tag_is_a_valid_docker_tag(
    version: semver.Version, sha: str, branch: str | None
) -> None:
    strategy = TagsConfig(templates=["{version}", "sha-{git_sha}", "{date}", "{branch}"])
    plan = compute_tags(strategy, version, git_sha=sha, when=WHEN, branch=branch, latest=True)
    assert len(set(plan.tags)) == len(plan.tags)
    for tag in plan.tags:
        assert 0 < len(tag) <= 128
        assert tag[0].isalnum() or tag[0] == "_"
        assert all(c.isalnum() or c in "_.-" for c in tag)


def test_an_unknown_template_field_names_the_template() -> None:
    with pytest.raises(UsageError, match=r"\{commit\}"):
        compute_tags(TagsConfig(templates=["{commit}"]), parse("1.0.0"), git_sha=SHA, when=WHEN)


def test_allocate_bumps_from_the_highest_released_version() -> None:
    from shipyard.versioning import GitState, allocate, released_from_tags

    v = semver.Version.parse
    released = released_from_tags(["0.2.0", "latest", "sha-abc1234", "v0.3.0", "20261201"])
    assert sorted(str(r) for r in released) == ["0.2.0", "0.3.0"]
    main = GitState(branch="main", tag=None, build_number=3)
    assert allocate(v("0.1.0"), released, "auto", main) == v("0.4.0")
    assert allocate(v("0.1.0"), [], "auto", main) == v("0.2.0")
    assert allocate(v("0.9.0"), released, "patch") == v("0.9.1")  # version.txt is higher
    develop = GitState(branch="develop", tag=None, build_number=7)
    taken = [v("0.3.1-develop.7"), v("0.3.1-develop.8")]
    assert allocate(v("0.3.0"), taken, "auto", develop) == v("0.3.1-develop.9")
    tagged = GitState(branch=None, tag="v1.0.0", build_number=1)
    assert allocate(v("0.1.0"), released, "auto", tagged) == v("1.0.0")


def test_check_set_refuses_a_downgrade_unless_allowed() -> None:
    from shipyard.versioning import check_set

    v = semver.Version.parse
    check_set(v("0.5.0"), [v("0.4.0")], allow_downgrade=False)
    check_set(v("0.3.0"), [v("0.4.0")], allow_downgrade=True)
    with pytest.raises(VersionError, match=r"lower than 0\.4\.0"):
        check_set(v("0.3.0"), [v("0.4.0")], allow_downgrade=False)
