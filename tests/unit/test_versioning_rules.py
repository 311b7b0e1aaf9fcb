"""The version rules a release leans on, pinned where the property tests of test_versioning.py
leave them open (found by `nox -s mutants`): what `--bump auto` says when it cannot work, the
`master` branch, a tag that looks like a version but is none, branch names that are not
prerelease identifiers as they stand, Docker tags carrying build metadata, the tag checkout
in `allocate`, and `--set` with nothing released."""

from __future__ import annotations

import pytest
import semver

from shipyard.errors import VersionError
from shipyard.versioning import (
    GitState,
    allocate,
    bump,
    check_set,
    docker_tag,
    from_docker_tag,
    parse,
    released_from_tags,
)

v = semver.Version.parse


# -- parse: what a user reads about a bad version --------------------------------------------
@pytest.mark.parametrize(
    ("text", "source", "message"),
    [
        (" latest\n", None, "version: 'latest' is not a semantic version"),
        ("1.2", "--set", "--set: '1.2' is not a semantic version"),
        ("v1", "version.txt", "version.txt: 'v1' is not a semantic version"),
        ("V1.2.3", "--version", "--version: 'V1.2.3' is not a semantic version"),
    ],
)
def test_a_bad_version_names_its_source_and_what_is_expected(
    text: str, source: str | None, message: str
) -> None:
    """The message names where the text came from (`version` when the caller says nothing,
    as the release and promote pipelines do) and the text as written; the hint shows the
    expected shape."""
    with pytest.raises(VersionError) as info:
        parse(text) if source is None else parse(text, source=source)
    assert info.value.message == message
    assert info.value.hint == "expected MAJOR.MINOR.PATCH such as 1.4.0 or 1.4.1-develop.7"


# -- bump: the errors a user reads ------------------------------------------------------------
def test_bump_auto_without_the_checkout_state_says_what_it_needs() -> None:
    """`--bump auto` follows git; asked without the checkout's state (directly or through
    allocate) it is a usage error saying so, not a crash."""
    with pytest.raises(VersionError) as direct:
        bump(v("1.0.0"), "auto")
    assert direct.value.one_line() == "--bump auto needs the git checkout's state"
    assert direct.value.exit_code == 2
    with pytest.raises(VersionError) as allocated:
        allocate(v("1.0.0"), [v("1.1.0")], "auto", None)
    assert allocated.value.one_line() == "--bump auto needs the git checkout's state"


def test_an_unknown_bump_lists_the_bumps_there_are() -> None:
    """A mistyped `--bump` names what was asked and every bump that exists."""
    with pytest.raises(VersionError) as info:
        bump(v("1.0.0"), "huge")
    assert info.value.message == "unknown bump 'huge'"
    assert info.value.hint == "choose one of major, minor, patch, auto"


# -- auto: branches and tags ------------------------------------------------------------------
@pytest.mark.parametrize("branch", ["main", "master"])
def test_auto_on_main_or_master_is_the_next_minor_release(branch: str) -> None:
    """Both names of the release branch release the next minor, with no prerelease."""
    assert bump(v("1.4.0"), "auto", GitState(branch, None, 7)) == v("1.5.0")
    assert bump(v("1.4.1-develop.7"), "auto", GitState(branch, None, 8)) == v("1.5.0")


def test_a_version_tag_that_is_not_semver_is_refused_naming_the_tag() -> None:
    """A checkout of tag v01.2.3 (leading zero: not SemVer) is refused, and the message says
    the git tag is what is wrong, not version.txt."""
    with pytest.raises(VersionError) as info:
        bump(v("1.0.0"), "auto", GitState("develop", "v01.2.3", 1))
    assert info.value.message == "git tag v01.2.3: '01.2.3' is not a semantic version"
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("branch", "released"),
    [
        ("feature/Login_2", "1.4.1-feature-login-2.7"),
        ("feature/", "1.4.1-feature.7"),  # no dangling '-' from the trailing '/'
        ("/fix/", "1.4.1-fix.7"),
        ("-hotfix-", "1.4.1-hotfix.7"),
        ("Xmas-Release", "1.4.1-xmas-release.7"),  # only '-' is stripped, no letters
        ("X", "1.4.1-x.7"),
        ("123", "1.4.1-branch-123.7"),  # all digits would be a numeric identifier
        ("2024/05", "1.4.1-2024-05.7"),
        ("///", "1.4.1-branch.7"),  # nothing usable left: a fixed word
        ("__", "1.4.1-branch.7"),
        ("-", "1.4.1-branch.7"),
    ],
)
def test_auto_on_a_branch_names_it_as_a_prerelease_identifier(branch: str, released: str) -> None:
    """The prerelease of a branch build is the branch as a SemVer identifier: separators
    become '-', none leads or trails, lower case, an all-digit name is prefixed and an empty
    one becomes `branch`. The version string is what a user and the registry see."""
    new = bump(v("1.4.0"), "auto", GitState(branch, None, 7))
    assert str(new) == released
    assert v(str(new)) == new  # and it is valid SemVer


# -- Docker tags with build metadata ----------------------------------------------------------
def test_a_docker_tag_with_build_metadata_names_its_version() -> None:
    """Docker tags allow no '+', so 1.2.3+build.5 is tagged 1.2.3_build.5; reading the tag
    back gives the version with its build metadata (the inverse of docker_tag)."""
    version = semver.Version(1, 2, 3, prerelease="rc.1", build="build.5")
    assert docker_tag(version) == "1.2.3-rc.1_build.5"
    assert from_docker_tag("1.2.3_build.5") == semver.Version(1, 2, 3, build="build.5")
    assert from_docker_tag("1.2.3-rc.1_build.5") == version
    assert from_docker_tag("latest") is None
    assert from_docker_tag("sha-abc1234") is None


def test_a_registry_tag_with_build_metadata_counts_as_released() -> None:
    """A release of 1.2.3+build.5 is pushed as the Docker tag 1.2.3_build.5. The registry's
    tags are what a fresh CI checkout remembers, so that tag must count as 1.2.3 released,
    or the next patch release would be 1.2.3 again."""
    tags = ["1.2.3_build.5", "1.2.4-rc.1_ci.9", "v1.0.0+meta", "latest", "1.2_x"]
    released = released_from_tags(tags)
    assert released == [
        semver.Version(1, 2, 3, build="build.5"),
        semver.Version(1, 2, 4, prerelease="rc.1", build="ci.9"),
        semver.Version(1, 0, 0, build="meta"),
    ]
    assert str(allocate(v("1.2.2"), released, "patch")) == "1.2.4"


# -- allocate: a tag checkout -----------------------------------------------------------------
def test_a_tag_checkout_releases_exactly_its_tag_only_under_auto() -> None:
    """On a checkout of tag vX.Y.Z, `--bump auto` releases exactly X.Y.Z, even a prerelease
    already in the registry (rebuilding the tag is that release again, not rc.2); an explicit
    bump still bumps the highest release and ignores the tag."""
    tagged = GitState("main", "v1.0.0-rc.1", 4)
    released = [v("0.3.0"), v("1.0.0-rc.1")]
    assert allocate(v("0.1.0"), released, "auto", tagged) == v("1.0.0-rc.1")
    assert allocate(v("0.1.0"), [v("0.3.0")], "patch", GitState("main", "v1.0.0", 4)) == v("0.3.1")
    assert allocate(v("0.1.0"), [v("0.3.0")], "minor", GitState(None, "v1.0.0", 4)) == v("0.4.0")
    # not a version tag: the branch rules, from the highest release
    other = GitState("develop", "nightly", 4)
    assert allocate(v("0.1.0"), [v("0.3.0")], "auto", other) == v("0.3.1-develop.4")


# -- check_set --------------------------------------------------------------------------------
def test_set_with_nothing_released_accepts_any_version() -> None:
    """A first release may be set to anything: with no released versions there is nothing to
    go below."""
    check_set(v("0.0.1"), [], allow_downgrade=False)
    check_set(v("0.1.0-alpha.1"), iter(()), allow_downgrade=False)


def test_a_refused_downgrade_says_how_to_force_it() -> None:
    """`--set` below a release names both versions and the flag that allows it."""
    with pytest.raises(VersionError) as info:
        check_set(v("0.3.0"), [v("0.2.0"), v("0.4.0")], allow_downgrade=False)
    assert info.value.message == "--set 0.3.0 is lower than 0.4.0, already released"
    assert info.value.hint == "versions only go up; pass --allow-downgrade if you really mean it"
    assert info.value.exit_code == 2
