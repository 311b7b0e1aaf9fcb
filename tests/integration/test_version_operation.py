"""`inv version` (operations/version.py) in a throwaway git checkout against moto's ECR: the
next version is computed from everything released (git tags and the registry's tags), never
one already taken; `--set` never goes below a release or names another commit's image; dry
runs and --print write nothing; bad input is refused before version.txt is read."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import RegistryError, ShipyardError, UsageError, VersionError
from shipyard.operations import version
from shipyard.operations.version import VersionOptions
from tests.conftest import MotoServer, Project, free_port
from tests.integration.ecr_helpers import put
from tests.support.aws_faults import DeniedFor


def staging(project: Project) -> Context:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    config = load_config("staging", root=project.path, environ=environ)
    console = Console(io.StringIO(), io.StringIO())
    return Context(config=config, root=project.path, console=console, environ=environ)


def released(
    project: Project, *, git: tuple[str, ...] = (), registry: tuple[str, ...] = ()
) -> None:
    """Versions released before: vX.Y.Z git tags on HEAD, version tags in the registry."""
    for tag in git:
        project.git("tag", tag)
    ctx = staging(project)
    ecr = ctx.aws.client("ecr")
    ecr.create_repository(repositoryName=project.repository)
    for n, tag in enumerate(registry, start=1):
        put(ecr, project.repository, n, tag)


def text(project: Project) -> str:
    return (project.path / "version.txt").read_text()


def run(project: Project, **opts: object) -> version.VersionResult:
    return version.run(staging(project), VersionOptions(**opts))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("how", "expected"), [("patch", "0.4.1"), ("minor", "0.5.0"), ("major", "1.0.0")]
)
def test_a_bump_starts_from_the_highest_release_anywhere(
    project: Project, aws: MotoServer, how: str, expected: str
) -> None:
    """version.txt says 0.1.0 (a fresh checkout remembers nothing); git released 0.3.0, the
    registry holds 0.4.0: the bump applies to 0.4.0."""
    released(project, git=("v0.3.0",), registry=("0.4.0", "sha-abc1234", "latest"))
    result = run(project, bump=how)
    assert (str(result.previous), str(result.version)) == ("0.1.0", expected)
    assert result.written is True
    assert text(project) == f"{expected}\n"
    assert result.file == project.path / "version.txt"


def test_auto_on_main_is_the_next_minor_of_the_highest_release(
    project: Project, aws: MotoServer
) -> None:
    released(project, registry=("0.4.0",))
    assert str(run(project, bump="auto").version) == "0.5.0"


def test_auto_on_a_branch_never_reuses_a_prerelease_the_registry_holds(
    project: Project, aws: MotoServer
) -> None:
    project.git("checkout", "-q", "-b", "develop")
    count = int(project.git("rev-list", "--count", "HEAD"))  # the build number outside CI
    released(project, registry=("0.1.0", f"0.1.1-develop.{count}"))
    assert str(run(project, bump="auto").version) == f"0.1.1-develop.{count + 1}"


def test_a_checkout_of_a_version_tag_releases_exactly_it(project: Project, aws: MotoServer) -> None:
    released(project, git=("v0.7.0",), registry=("0.9.0",))
    assert str(run(project, bump="auto").version) == "0.7.0"


def test_set_below_a_release_is_refused_unless_allowed(project: Project, aws: MotoServer) -> None:
    released(project, registry=("0.4.0",))
    with pytest.raises(
        VersionError, match=r"--set 0\.2\.0 is lower than 0\.4\.0, already released"
    ):
        run(project, set_to="0.2.0")
    assert text(project) == "0.1.0\n"
    result = run(project, set_to="0.2.0", allow_downgrade=True)
    assert (str(result.version), result.written) == ("0.2.0", True)
    assert text(project) == "0.2.0\n"


def test_set_to_a_version_the_registry_holds_for_another_commit_is_refused(
    project: Project, aws: MotoServer
) -> None:
    head = project.git("rev-parse", "HEAD")
    released(project, registry=("0.4.0",))
    ecr = staging(project).aws.client("ecr")
    put(ecr, project.repository, 7, "0.5.0", "sha-def5678")  # 0.5.0, built from def5678
    with pytest.raises(VersionError) as err:
        run(project, set_to="0.5.0")
    assert f"built from commit def5678, not {head[:7]}" in err.value.message
    assert "a version names one image forever" in (err.value.hint or "")
    put(ecr, project.repository, 8, "0.6.0")  # no commit tag: an unknown commit
    with pytest.raises(VersionError, match="built from an unknown commit"):
        run(project, set_to="0.6.0")
    put(ecr, project.repository, 9, "0.7.0", f"sha-{head[:7]}")  # this commit's own image
    assert run(project, set_to="0.7.0").written is True
    assert text(project) == "0.7.0\n"


def test_dry_runs_and_print_write_nothing(project: Project, aws: MotoServer) -> None:
    released(project, registry=("0.4.0",))
    planned = run(project, bump="patch", dry_run=True)
    assert (str(planned.version), planned.written) == ("0.4.1", False)
    assert planned.plan is not None
    assert planned.plan.title == "version --bump patch"
    assert [s.detail for s in planned.plan.steps] == ["version.txt: 0.1.0 -> 0.4.1"]
    shown = run(project, dry_run=True)
    assert shown.plan is not None
    assert [s.detail for s in shown.plan.steps] == ["version.txt: 0.1.0 (nothing to write)"]
    printed = run(project, bump="minor", print_only=True)
    assert (str(printed.version), printed.written) == ("0.5.0", False)
    assert text(project) == "0.1.0\n"
    same = run(project, set_to="0.1.0", allow_downgrade=True)
    assert same.written is False  # already so: nothing to write


def test_reading_without_a_bump_changes_nothing(project: Project, aws: MotoServer) -> None:
    result = run(project)
    assert (str(result.previous), str(result.version), result.written) == ("0.1.0", "0.1.0", False)
    assert result.plan is None


@pytest.mark.parametrize(
    ("opts", "error", "match"),
    [
        ({"bump": "patch", "set_to": "1.0.0"}, UsageError, "--bump and --set exclude each other"),
        ({"bump": "sideways"}, UsageError, "unknown --bump 'sideways'"),
        ({"set_to": "one.two"}, VersionError, "--set: 'one.two' is not a semantic version"),
    ],
)
def test_bad_input_is_refused_before_version_txt_is_read(
    project: Project, aws: MotoServer, opts: dict[str, str], error: type[Exception], match: str
) -> None:
    (project.path / "version.txt").unlink()  # were it read, the error would name it
    with pytest.raises(error, match=match):
        run(project, **opts)


def test_a_missing_or_broken_version_txt_is_named(project: Project, aws: MotoServer) -> None:
    path: Path = project.path / "version.txt"
    path.unlink()
    with pytest.raises(VersionError, match=r"version\.txt does not exist") as err:
        run(project, bump="patch")
    assert "0.1.0" in (err.value.hint or "")
    path.write_text("release one\n")
    with pytest.raises(VersionError, match=r"version\.txt: 'release one' is not a semantic"):
        run(project, bump="patch")


def test_a_registry_that_cannot_be_read_stops_the_bump(project: Project, aws: MotoServer) -> None:
    """The next version is computed from the registry's tags: not reading them could reuse a
    released version, so the bump stops and says why, writing nothing."""
    released(project, registry=("0.4.0",))
    ctx = staging(project)
    ctx.aws.client("ecr").meta.events.register_first(
        "before-call.ecr.DescribeImages", DeniedFor(project.repository)
    )
    with pytest.raises(ShipyardError) as err:
        version.run(ctx, VersionOptions(bump="patch"))
    assert "ecr:DescribeImages" in err.value.message
    assert "access denied" in err.value.message
    assert text(project) == "0.1.0\n"


def test_an_unreachable_oci_registry_stops_the_bump_naming_why(project: Project) -> None:
    """The local environment's registry on a port nothing listens on."""
    path = project.path / "deploy" / "environments" / "local.toml"
    lines = [
        ln for ln in path.read_text().splitlines() if not ln.startswith(("username", "password"))
    ]
    path.write_text(
        "\n".join(lines).replace('url = "127.0.0.1:5000"', f'url = "127.0.0.1:{free_port()}"')
    )
    config = load_config("local", root=project.path, environ={})
    ctx = Context(
        config=config, root=project.path, console=Console(io.StringIO(), io.StringIO()), environ={}
    )
    with pytest.raises(RegistryError) as err:
        version.run(ctx, VersionOptions(bump="patch"))
    assert err.value.message.startswith("cannot read the versions the registry holds")
    assert "none is ever reused" in (err.value.hint or "")
    assert text(project) == "0.1.0\n"
