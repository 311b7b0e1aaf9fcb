"""`inv cleanup --env local` removes exactly what it says and says exactly what it did
(issue 13 item 8).

One world on the real Docker engine, built once for the module: a project's release history,
its images (tiny `docker import`s, and two images committed from the local busybox image so a
container can run them), stopped containers made with `docker create` (never started) and two
running containers: one of the environment's stack running release 0.4.0, one outside the
stack running release 0.3.0's image (so Docker refuses to remove it). Cleanup runs on it once
as a dry run and once for real; the tests read what each run planned, did and reported, and
what Docker holds afterwards. What `show` prints and `as_json` returns is checked on
constructed results, so every word a user or a script reads is pinned.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.adapters.containers import ContainerInfo
from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.history import History, HistoryState, Release
from shipyard.operations import cleanup
from shipyard.operations.cleanup import CleanupOptions, CleanupResult, Removal
from shipyard.targets.local import stack_name
from tests.conftest import _remove_images, free_port, make_project

pytestmark = pytest.mark.usefixtures("docker_engine")

BASE_IMAGE = "localhost/shipyard/busybox:1.35.0"  # made by scripts/bootstrap.sh
REGISTRY = "127.0.0.1:5000"  # deploy/environments/local.toml [registry] url
STACK = "dev.shipyard.stack"
RELEASE = "dev.shipyard.release"


def docker(*args: str, data: bytes | None = None) -> str:
    return subprocess.run(
        ["docker", *args], input=data, capture_output=True, check=True
    ).stdout.decode()


def image_id(ref: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", ref).strip()


def imported(ref: str) -> str:
    """An image of its own (one file naming `ref`), made without any container."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        body = f"{ref}\n".encode()
        info = tarfile.TarInfo("release")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    docker("image", "import", "-", ref, data=data.getvalue())
    return image_id(ref)


def runnable(ref: str, prefix: str) -> str:
    """An image of its own that can run `/bin/busybox sleep` (committed from the base image)."""
    base = f"{prefix}commit"
    docker("container", "create", "--name", base, BASE_IMAGE)
    try:
        docker("container", "commit", "--change", f"LABEL made.for={ref}", base, ref)
    finally:
        docker("container", "rm", "-f", base)
    return image_id(ref)


def exists(kind: str, name: str) -> bool:
    found = subprocess.run(["docker", kind, "inspect", name], capture_output=True, check=False)
    return found.returncode == 0


def release(n: int, image: str, image_id: str, **kw: object) -> Release:
    fields: dict[str, object] = {
        "release_id": f"r2026020100000{n}",
        "version": f"0.{n}.0",
        "digest": f"sha256:{n:064x}",
        "image": image,
        "taskdef_hash": "sha256:t",
        "commit": "c" * 40,
        "actor": "tester",
        "started_at": "2026-02-01T00:00:00+00:00",
        "outcome": "succeeded",
        "image_id": image_id,
    }
    return Release(**{**fields, **kw})  # type: ignore[arg-type]


@dataclass
class World:
    repo: str  # the project's image repository
    ids: dict[str, str]  # image ids by name: "0.1.0" ... "0.6.0", "dev"
    containers: dict[str, str]  # container names by role
    dry: CleanupResult
    after_dry: dict[str, bool]  # image/container name -> still there after the dry run
    done: CleanupResult
    after: dict[str, bool]  # ... after the real run


def build_history(project_path: Path, repo: str, ids: dict[str, str]) -> None:
    """Seven releases, keep_releases = 1: 0.6.0 (recovered, no image id recorded, the image
    of the failed 0.6.0 deploy) is live, 0.5.0 the rollback target; 0.1.0-0.4.0 are old."""
    history = History(project_path / ".shipyard" / "local", "local")
    for n in range(1, 6):
        history.begin(release(n, f"{repo}:0.{n}.0", ids[f"0.{n}.0"]))
    history.begin(release(6, f"{repo}:0.6.0", ids["0.6.0"], outcome="failed"))
    history.begin(
        release(
            7, f"{repo}:0.6.0", "", version="0.6.0", digest=f"sha256:{6:064x}", kind="recovered"
        )
    )
    history.set_live("r20260201000007")


def build_containers(stack: str, repo: str, prefix: str) -> dict[str, str]:
    names = {role: f"{prefix}{role}" for role in ("old", "stray", "back", "live", "serving")}
    names["elsewhere"] = f"{prefix}elsewhere"
    in_stack = ("--label", f"{STACK}={stack}")
    for role, rid, ref in (
        ("old", "r20260201000001", f"{repo}:0.1.0"),
        ("back", "r20260201000005", f"{repo}:0.5.0"),
        ("live", "r20260201000007", f"{repo}:0.6.0"),
    ):
        docker("container", "create", "--name", names[role], *in_stack,
               "--label", f"{RELEASE}={rid}", ref, "/release")  # fmt: skip
    docker("container", "create", "--name", names["stray"], *in_stack, f"{repo}:dev", "/x")
    sleep = ("/bin/busybox", "sleep", "600")
    docker("container", "run", "-d", "--name", names["serving"], *in_stack,
           "--label", f"{RELEASE}=r20260201000004", f"{repo}:0.4.0", *sleep)  # fmt: skip
    docker("container", "run", "-d", "--name", names["elsewhere"], f"{repo}:0.3.0", *sleep)
    return names


def local_ctx(project_path: Path) -> Context:
    config = load_config(
        "local",
        root=project_path,
        overrides={"target.keep_releases": 1, "target.proxy_port": free_port()},
        environ={},
    )
    console = Console(io.StringIO(), io.StringIO())
    return Context(config=config, root=project_path, console=console, environ={})


def snapshot(world_ids: dict[str, str], containers: dict[str, str]) -> dict[str, bool]:
    seen = {name: exists("image", i) for name, i in world_ids.items()}
    seen.update({role: exists("container", c) for role, c in containers.items()})
    return seen


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    repo = f"t{uuid.uuid4().hex[:10]}"
    prefix = f"{repo}-"
    project = make_project(tmp_path_factory.mktemp("cleanup"), name=repo)
    ctx = local_ctx(project.path)
    containers: dict[str, str] = {}
    try:
        ids = {
            "0.1.0": imported(f"{repo}:0.1.0"),
            "0.2.0": imported(f"{REGISTRY}/{repo}:0.2.0"),  # only the registry's name left
            "0.3.0": runnable(f"{repo}:0.3.0", prefix),
            "0.4.0": runnable(f"{repo}:0.4.0", prefix),
            "0.5.0": imported(f"{repo}:0.5.0"),
            "0.6.0": imported(f"{repo}:0.6.0"),
            "dev": imported(f"{repo}:dev"),  # built, never released here
        }
        docker("image", "tag", f"{repo}:0.5.0", f"{REGISTRY}/{repo}:0.5.0")
        build_history(project.path, repo, ids)
        containers = build_containers(stack_name(ctx), repo, prefix)
        dry = cleanup.run(ctx, CleanupOptions(dry_run=True))
        after_dry = snapshot(ids, containers)
        done = cleanup.run(ctx, CleanupOptions())
        yield World(repo, ids, containers, dry, after_dry, done, snapshot(ids, containers))
    finally:
        for name in [*containers.values(), f"{prefix}commit"]:
            subprocess.run(["docker", "container", "rm", "-f", name], capture_output=True)
        _remove_images(repo)


def planned(world: World) -> list[tuple[str, str, str]]:
    repo, ids = world.repo, world.ids
    return [
        ("container", f"{repo}-old", "created, release r20260201000001"),
        ("container", f"{repo}-stray", "created, release ?"),
        ("image", ids["0.1.0"], f"{repo}:0.1.0 (release r20260201000001)"),
        ("image", ids["0.2.0"], f"{REGISTRY}/{repo}:0.2.0 (release r20260201000002)"),
        ("image", ids["0.3.0"], f"{repo}:0.3.0 (release r20260201000003)"),
    ]


KEPT = (
    ("r20260201000007", "0.6.0", "live"),
    ("r20260201000005", "0.5.0", "rollback target"),
)


def test_a_dry_run_plans_the_stopped_old_containers_and_unused_old_images_and_changes_nothing(
    world: World,
) -> None:
    """The plan: stopped containers of unprotected releases (one without a release label shown
    as `?`), then the images of old releases, under whichever of the project's names (local or
    the registry's) they still carry. Not planned: the live and rollback target's containers
    and images, 0.4.0's image (a running container of the stack runs it), 0.6.0's image (the
    live record lacks its id: Docker is asked), an image never released here."""
    dry = world.dry
    assert (dry.environment, dry.dry_run, dry.kept) == ("local", True, KEPT)
    shown = [(r.kind, r.name, r.detail) for r in dry.removals]
    assert sorted(shown[:2]) == planned(world)[:2]  # the containers come first
    assert sorted(shown[2:]) == sorted(planned(world)[2:])
    assert not any(r.removed or r.error for r in dry.removals)
    assert all(world.after_dry.values()), world.after_dry


def test_cleanup_removes_what_it_planned_and_reports_each_removal(world: World) -> None:
    """Each planned container and image is really gone and reported removed, with what it
    was; nothing else went (the running containers and the kept releases' images stay)."""
    done = world.done
    assert (done.environment, done.dry_run, done.kept) == ("local", False, KEPT)
    by_name = {r.name: r for r in done.removals}
    assert len(by_name) == len(done.removals) == 5
    for kind, name, detail in planned(world):
        if name != world.ids["0.3.0"]:
            assert by_name[name] == Removal(kind, name, detail, removed=True, error="")
    gone = {"old", "stray", "0.1.0", "0.2.0"}
    assert {what for what, there in world.after.items() if not there} == gone


def test_an_image_docker_refuses_to_remove_is_reported_kept_with_dockers_reason(
    world: World,
) -> None:
    """0.3.0's image is run by a container outside the stack: Docker refuses, and cleanup
    says so (not removed, Docker's own words) instead of claiming it went."""
    item = next(r for r in world.done.removals if r.name == world.ids["0.3.0"])
    assert (item.kind, item.detail) == ("image", planned(world)[4][2])
    assert item.removed is False
    assert "image is being used by running container" in item.error
    assert world.after["0.3.0"]
    assert world.after["elsewhere"]


# -- what a user reads and a script parses, on constructed results ---------------------------

CONTAINER = "gamepulse-local-abc123-r20260201000001-gamepulse"  # longer than 40 characters
IMAGE = "sha256:" + "0123456789ab" + "c" * 52
REFUSED = "sha256:" + "fedcba987654" + "d" * 52
ERROR = "conflict: unable to delete fedcba987654 (cannot be forced)"
REMOVALS = (
    Removal("container", CONTAINER, "exited, release r20260201000001", removed=True),
    Removal("image", IMAGE, "gamepulse:0.1.0 (release r20260201000001)", removed=True),
    Removal("image", REFUSED, "gamepulse:0.3.0 (release r20260201000003)", error=ERROR),
)


def shown(result: CleanupResult) -> list[list[str]]:
    """What `show` prints, one list of cells per line (tabulate's columns are separated by
    two spaces or more; the dashes under the headers are left out)."""
    out = io.StringIO()
    cleanup.show(result, Console(out, io.StringIO()))
    lines = [ln for ln in out.getvalue().splitlines() if not set(ln) <= {"-", " "}]
    return [re.split(r"\s{2,}", ln.strip()) for ln in lines]


def test_show_names_each_removal_and_its_result_and_why_each_release_stayed() -> None:
    """A container by its name (up to 40 characters), an image by its short id (the 12 hex
    digits after `sha256:`); a removal that failed says `kept:` and Docker's reason."""
    result = CleanupResult("local", REMOVALS, KEPT)
    assert shown(result) == [
        ["cleanup local"],
        ["what", "name", "detail", "result"],
        ["container", CONTAINER[:40], "exited, release r20260201000001", "removed"],
        ["image", "0123456789ab", "gamepulse:0.1.0 (release r20260201000001)", "removed"],
        ["image", "fedcba987654", "gamepulse:0.3.0 (release r20260201000003)", f"kept: {ERROR}"],
        ["kept"],
        ["release", "version", "kept because"],
        ["r20260201000007", "0.6.0", "live"],
        ["r20260201000005", "0.5.0", "rollback target"],
    ]


def test_show_of_a_dry_run_says_what_would_go_and_that_nothing_changed() -> None:
    planned = tuple(Removal(r.kind, r.name, r.detail) for r in REMOVALS)
    assert shown(CleanupResult("local", planned, (), dry_run=True)) == [
        ["cleanup local (dry run)"],
        ["what", "name", "detail", "result"],
        ["container", CONTAINER[:40], "exited, release r20260201000001", "would remove"],
        ["image", "0123456789ab", "gamepulse:0.1.0 (release r20260201000001)", "would remove"],
        ["image", "fedcba987654", "gamepulse:0.3.0 (release r20260201000003)", "would remove"],
        ["dry run: nothing was changed"],
    ]


def test_show_with_nothing_to_remove_says_so_in_one_line() -> None:
    assert shown(CleanupResult("local", (), ())) == [["cleanup local: nothing to remove"]]
    assert shown(CleanupResult("local", (), KEPT, dry_run=True)) == [
        ["cleanup local: nothing to remove"],
        ["kept"],
        ["release", "version", "kept because"],
        ["r20260201000007", "0.6.0", "live"],
        ["r20260201000005", "0.5.0", "rollback target"],
        ["dry run: nothing was changed"],
    ]


def test_under_github_actions_only_the_removals_reach_the_job_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job summary gets the removals table under its title; the kept table is for the
    log only."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    cleanup.show(CleanupResult("local", REMOVALS, KEPT), Console(io.StringIO(), io.StringIO()))
    text = summary.read_text()
    assert text.startswith("### cleanup local\n")
    assert f"kept: {ERROR}" in text
    assert "kept because" not in text
    assert "rollback target" not in text


def test_the_json_document_carries_every_removal_and_kept_release() -> None:
    assert cleanup.as_json(CleanupResult("local", REMOVALS[1:], KEPT[:1], dry_run=True)) == {
        "environment": "local",
        "dry_run": True,
        "removals": [
            {
                "kind": "image",
                "name": IMAGE,
                "detail": "gamepulse:0.1.0 (release r20260201000001)",
                "removed": True,
                "error": "",
            },
            {
                "kind": "image",
                "name": REFUSED,
                "detail": "gamepulse:0.3.0 (release r20260201000003)",
                "removed": False,
                "error": ERROR,
            },
        ],
        "kept": [{"release_id": "r20260201000007", "version": "0.6.0", "why": "live"}],
    }


def test_a_stopped_container_without_a_release_label_is_removed_as_release_unknown() -> None:
    listed = [ContainerInfo("stray", "created", {}, "img")]
    assert cleanup._container_removals(listed, {"r1"}) == [
        Removal("container", "stray", "created, release ?")
    ]


def test_the_last_n_rule_alone_keeps_n_succeeded_releases() -> None:
    """Without a live release or rollback target, keep_releases = 2 keeps the two newest
    succeeded releases; a failed one in between does not count."""
    releases = tuple(release(n, f"repo:0.{n}.0", f"sha256:{n}") for n in range(1, 4))
    releases += (release(4, "repo:0.4.0", "sha256:4", outcome="failed"),)
    kept = cleanup._kept_releases(HistoryState(None, releases), None, None, keep_n=2)
    assert list(kept.values()) == [
        ("r20260201000003", "0.3.0", "one of the last 2 releases"),
        ("r20260201000002", "0.2.0", "one of the last 2 releases"),
    ]
