"""`inv cleanup --env local` never removes the live release's image or the rollback target's
(issue 13 item 8), whatever the "last N releases" rule says.

The real Docker engine holds the images (made with `docker import` from a one-file tarball
each, so every release has its own image id); no container is created or run, so this runs
with the fast layers. The history is written as the local target writes it. Which stopped
containers go is decided by the same rule (the protected releases), checked on its own below.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from dataclasses import replace

import pytest

from shipyard.adapters.containers import ContainerInfo
from shipyard.config import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.history import History, HistoryState, Release
from shipyard.operations import cleanup
from shipyard.operations.cleanup import CleanupOptions
from tests.conftest import Project, free_port

pytestmark = pytest.mark.usefixtures("docker_engine")


def imported(repository: str, tag: str) -> str:
    """An image of its own (one file whose content is the tag), without any container."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        body = f"release {tag}\n".encode()
        info = tarfile.TarInfo("release")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    subprocess.run(
        ["docker", "image", "import", "-", f"{repository}:{tag}"],
        input=data.getvalue(),
        capture_output=True,
        check=True,
    )
    return subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", f"{repository}:{tag}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def present(image_id: str) -> bool:
    found = subprocess.run(["docker", "image", "inspect", image_id], capture_output=True)
    return found.returncode == 0


def local_ctx(project: Project) -> Context:
    config = load_config(
        "local",
        root=project.path,
        overrides={"target.keep_releases": 1, "target.proxy_port": free_port()},
        environ={},
    )
    console = Console(io.StringIO(), io.StringIO())
    return Context(config=config, root=project.path, console=console, environ={})


def record(n: int, image_id: str, repository: str, outcome: str, **kw: object) -> Release:
    base = Release(
        release_id=f"r2026010100000{n}",
        version=f"0.{n}.0",
        digest=f"sha256:{n:064x}",
        image=f"{repository}:0.{n}.0",
        taskdef_hash="sha256:t",
        commit="c" * 40,
        actor="tester",
        started_at="2026-01-01T00:00:00+00:00",
        outcome="succeeded",
        image_id=image_id,
    )
    return replace(base, outcome=outcome, **kw)  # type: ignore[arg-type]


# (outcome of each release 1..4, the live one): keep_releases = 1 keeps only the newest
# succeeded release, so each kept image below is kept by one rule alone
HISTORIES = {
    # 0.4.0 serves but was recorded unknown: only "live" keeps it; 0.3.0 is the newest
    # succeeded one (kept by the last-1 rule, and the rollback target)
    "live not recorded succeeded": (("succeeded", "succeeded", "succeeded", "unknown"), 4),
    # 0.3.0 serves and is the newest succeeded; 0.4.0 failed; the rollback target 0.2.0 is
    # kept by that rule alone
    "rollback target past the last N": (("succeeded", "succeeded", "succeeded", "failed"), 3),
}
EXPECTED = {  # release number -> kept because
    "live not recorded succeeded": {4: "live", 3: "rollback target"},
    "rollback target past the last N": {3: "live", 2: "rollback target"},
}


@pytest.mark.parametrize("case", HISTORIES)
def test_cleanup_keeps_the_live_and_the_rollback_target_images(project: Project, case: str) -> None:
    repository = project.repository  # the project's image repository (its own per test)
    ids = {n: imported(repository, f"0.{n}.0") for n in range(1, 5)}
    unreleased = imported(repository, "0.5.0-dev")  # built, never deployed here
    outcomes, live = HISTORIES[case]
    ctx = local_ctx(project)
    history = History(project.path / ".shipyard" / "local", "local")
    for n, outcome in enumerate(outcomes, start=1):
        history.begin(record(n, ids[n], repository, outcome))
    history.set_live(f"r2026010100000{live}")

    dry = cleanup.run(ctx, CleanupOptions(dry_run=True))
    kept = {version: why for _, version, why in dry.kept}
    expected = {f"0.{n}.0": why for n, why in EXPECTED[case].items()}
    assert kept == expected
    planned = {r.name for r in dry.removals if r.kind == "image"}
    doomed = {ids[n] for n in range(1, 5) if n not in EXPECTED[case]}
    assert planned == doomed
    assert all(present(i) for i in ids.values())  # a dry run removes nothing

    result = cleanup.run(ctx, CleanupOptions())
    assert {r.name for r in result.removals if r.removed} == doomed
    for n, image_id in ids.items():
        assert present(image_id) == (n in EXPECTED[case]), f"0.{n}.0"
    assert present(unreleased)  # not a release of this environment: never a candidate
    shown = io.StringIO()
    cleanup.show(result, Console(shown, shown))
    assert "kept because" in shown.getvalue()
    assert json.loads(json.dumps(cleanup.as_json(result)))["kept"]


def test_stopped_containers_of_the_protected_releases_stay() -> None:
    listed = [
        ContainerInfo(f"c-{rid}-{state}", state, {"dev.shipyard.release": rid}, "img")
        for rid in ("live", "back", "old")
        for state in ("running", "exited")
    ]
    removals = cleanup._container_removals(listed, {"live", "back"})
    assert [r.name for r in removals] == ["c-old-exited"]
    assert removals[0].detail == "exited, release old"


def test_kept_releases_name_why() -> None:
    def rec(n: int, outcome: str = "succeeded") -> Release:
        return record(n, f"sha256:{n}", "repo", outcome)

    releases = (rec(1), rec(2), rec(3, "failed"), rec(4), rec(5))
    history = HistoryState("r20260101000004", releases)
    kept = cleanup._kept_releases(history, releases[3], releases[1], keep_n=2)
    assert kept == {
        "r20260101000004": ("r20260101000004", "0.4.0", "live"),
        "r20260101000002": ("r20260101000002", "0.2.0", "rollback target"),
        "r20260101000005": ("r20260101000005", "0.5.0", "one of the last 2 releases"),
    }
    assert list(kept) == ["r20260101000004", "r20260101000002", "r20260101000005"]


def test_nothing_released_keeps_nothing() -> None:
    assert cleanup._kept_releases(HistoryState(None, ()), None, None, keep_n=3) == {}
