"""The `inv version` rules test_version_operation.py leaves open (found by `nox -s mutants`):
the exact words and hints of refused --bump/--set input, the path a "cannot read" error shows,
the commit and digest named when --set picks another commit's image, git tags counted next to
the registry's, a --bump that needs nothing from git, and what a dry run returns.

The registry is a real HTTP server on 127.0.0.1 playing the local environment's OCI registry:
its images carry the full commit in `org.opencontainers.image.revision`, as `inv build` labels
them."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import UsageError, VersionError
from shipyard.operations import version
from shipyard.operations.version import VersionOptions, VersionResult
from tests.conftest import Project

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class Registry:
    """An OCI registry holding images by tag: each image's manifest names its config blob,
    whose labels carry the commit it was built from."""

    port: int = 0
    manifests: dict[str, bytes] = field(default_factory=dict)  # tag -> manifest
    blobs: dict[str, bytes] = field(default_factory=dict)  # digest -> blob

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def push(self, tag: str, revision: str | None) -> str:
        """An image under `tag` built from `revision`; returns its manifest digest."""
        labels = {"org.opencontainers.image.revision": revision} if revision else {}
        config = json.dumps({"config": {"Labels": labels}, "tag": tag}).encode()
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        self.blobs[config_digest] = config
        doc = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": {"digest": config_digest}}
        body = json.dumps(doc).encode()
        self.manifests[tag] = body
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        parts = path.split("/")  # "", "v2", repository, kind, name
        if len(parts) == 5 and parts[3] == "tags":
            return 200, {}, json.dumps({"tags": sorted(self.manifests)}).encode()
        if len(parts) == 5 and parts[3] == "manifests" and parts[4] in self.manifests:
            body = self.manifests[parts[4]]
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            return 200, {"Content-Type": MANIFEST_TYPE, "Docker-Content-Digest": digest}, body
        if len(parts) == 5 and parts[3] == "blobs" and parts[4] in self.blobs:
            return 200, {}, self.blobs[parts[4]]
        return 404, {}, b""


@pytest.fixture
def registry() -> Iterator[Registry]:
    held = Registry()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = held.answer(self.path)
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    held.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield held
    httpd.shutdown()
    httpd.server_close()


def local(project: Project, registry: Registry, *, version_file: str | None = None) -> Context:
    """The local environment, its registry at `registry` (anonymous), version.txt where
    `version_file` says."""
    path = project.path / "deploy" / "environments" / "local.toml"
    lines = [
        ln for ln in path.read_text().splitlines() if not ln.startswith(("username", "password"))
    ]
    path.write_text("\n".join(lines).replace('url = "127.0.0.1:5000"', f'url = "{registry.url}"'))
    if version_file is not None:
        base = project.path / "deploy" / "shipyard.toml"
        old = 'version_file = "version.txt"'
        base.write_text(base.read_text().replace(old, f'version_file = "{version_file}"'))
    config = load_config("local", root=project.path, environ={})
    console = Console(io.StringIO(), io.StringIO())
    return Context(config=config, root=project.path, console=console, environ={})


def run(ctx: Context, **opts: Any) -> VersionResult:
    return version.run(ctx, VersionOptions(**opts))


# -- refused input: the words and the hint -------------------------------------------------------
@pytest.mark.parametrize(
    ("opts", "message", "hint"),
    [
        (
            {"bump": "patch", "set_to": "1.0.0"},
            "--bump and --set exclude each other",
            "use one of them",
        ),
        (
            {"bump": "sideways"},
            "unknown --bump 'sideways'",
            "choose one of major, minor, patch, auto",
        ),
    ],
)
def test_refused_bump_and_set_say_what_to_do_instead(
    project: Project, registry: Registry, opts: dict[str, str], message: str, hint: str
) -> None:
    with pytest.raises(UsageError) as err:
        run(local(project, registry), **opts)
    assert (err.value.message, err.value.hint) == (message, hint)
    assert (project.path / "version.txt").read_text() == "0.1.0\n"


# -- the path an error shows ---------------------------------------------------------------------
@pytest.mark.parametrize("absolute", [False, True])
def test_an_unreadable_version_file_is_named_relative_to_the_project(
    project: Project, registry: Registry, absolute: bool
) -> None:
    """A version file that is a directory cannot be read: the error names it as the user
    knows it (relative to the project root, even when configured as an absolute path inside
    the project) and says why."""
    where = project.path / "conf" / "version.txt"
    where.mkdir(parents=True)
    ctx = local(project, registry, version_file=str(where) if absolute else "conf/version.txt")
    with pytest.raises(VersionError) as err:
        run(ctx, bump="patch")
    assert err.value.message == "conf/version.txt: cannot read: Is a directory"


def test_a_version_file_outside_the_project_is_named_by_its_full_path(
    project: Project, registry: Registry, tmp_path: Path
) -> None:
    """A version file configured outside the project root is shown as configured."""
    outside = tmp_path / "elsewhere" / "version.txt"
    ctx = local(project, registry, version_file=str(outside))
    with pytest.raises(VersionError) as err:
        run(ctx)
    assert err.value.message == f"{outside} does not exist"
    outside.parent.mkdir()
    outside.write_text("0.3.0\n")
    result = run(ctx, bump="patch")
    assert (str(result.version), result.file) == ("0.3.1", outside)
    assert outside.read_text() == "0.3.1\n"


# -- --set naming another commit's image -------------------------------------------------------
def test_set_to_another_commits_image_names_its_digest_and_both_commits(
    project: Project, registry: Registry
) -> None:
    """The refusal shows the image (digest, 19 characters: sha256: and 12 hex digits), the
    commit it was built from and this checkout's (7 characters each), though the image's
    label holds the full 40-character commit."""
    head = project.git("rev-parse", "HEAD")
    other = project.commit("another commit")
    project.git("checkout", "-q", "HEAD~1")
    digest = registry.push("0.5.0", other)
    with pytest.raises(VersionError) as err:
        run(local(project, registry), set_to="0.5.0")
    assert err.value.message == (
        f"--set 0.5.0: the registry already holds 0.5.0 as {digest[:19]}, "
        f"built from commit {other[:7]}, not {head[:7]}"
    )
    assert err.value.hint == "a version names one image forever: choose a version not released yet"
    assert (project.path / "version.txt").read_text() == "0.1.0\n"
    registry.push("0.6.0", head)  # this commit's own image, by its full revision
    assert run(local(project, registry), set_to="0.6.0").written is True


# -- what was released -------------------------------------------------------------------------
def test_git_tags_count_next_to_the_registry_tags(project: Project, registry: Registry) -> None:
    """Git released 0.3.0, the registry holds only 0.2.0: the bump applies to 0.3.0, and
    --set below it is refused though the registry never saw it."""
    project.git("tag", "v0.3.0")
    registry.push("0.2.0", project.git("rev-parse", "HEAD"))
    ctx = local(project, registry)
    assert str(run(ctx, bump="patch", print_only=True).version) == "0.3.1"
    with pytest.raises(VersionError, match=r"--set 0\.2\.5 is lower than 0\.3\.0"):
        run(ctx, set_to="0.2.5")


def test_a_plain_bump_needs_no_commit_yet(project: Project, registry: Registry) -> None:
    """Only --bump auto reads the checkout's branch and build number: a new repository with
    no commit yet can bump patch, minor or major."""
    shutil.rmtree(project.path / ".git")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project.path, check=True)
    result = run(local(project, registry), bump="minor")
    assert (str(result.version), result.written) == ("0.2.0", True)
    assert (project.path / "version.txt").read_text() == "0.2.0\n"


# -- what a dry run and a plain read return ------------------------------------------------------
def test_a_dry_run_of_set_returns_the_plan_and_writes_nothing(
    project: Project, registry: Registry
) -> None:
    result = run(local(project, registry), set_to="0.5.0", dry_run=True)
    assert (str(result.previous), str(result.version)) == ("0.1.0", "0.5.0")
    assert result.written is False
    assert result.file == project.path / "version.txt"
    assert result.plan is not None
    assert result.plan.title == "version --set 0.5.0"
    assert [(s.action, s.detail) for s in result.plan.steps] == [
        ("write", "version.txt: 0.1.0 -> 0.5.0")
    ]
    assert (project.path / "version.txt").read_text() == "0.1.0\n"


def test_a_dry_run_without_a_change_plans_one_read(project: Project, registry: Registry) -> None:
    project.set_version("0.4.2")
    result = run(local(project, registry), dry_run=True)
    assert (str(result.previous), str(result.version)) == ("0.4.2", "0.4.2")
    assert result.written is False
    assert result.file == project.path / "version.txt"
    assert result.plan is not None
    assert result.plan.title == "version"
    assert [(s.action, s.detail) for s in result.plan.steps] == [
        ("read", "version.txt: 0.4.2 (nothing to write)")
    ]


def test_a_plain_read_returns_the_file_it_read(project: Project, registry: Registry) -> None:
    where = project.path / "conf" / "version.txt"
    where.parent.mkdir()
    where.write_text("1.2.3\n")
    result = run(local(project, registry, version_file="conf/version.txt"))
    assert (str(result.previous), str(result.version), result.written) == ("1.2.3", "1.2.3", False)
    assert result.file == where
    assert result.plan is None
