"""Release history: atomic, readable after kill -9, and the rollback rules."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.history import History, HistoryState, HistoryUnreadable, Release


def _release(n: int, outcome: str = "succeeded", **kw: object) -> Release:
    base = Release(
        release_id=f"r{n:04d}",
        version=f"0.{n}.0",
        digest=f"sha256:{n:064x}",
        image=f"img@{n}",
        taskdef_hash="sha256:t",
        commit="c" * 40,
        actor="tester",
        started_at="2026-01-01T00:00:00+00:00",
    )
    return replace(base, outcome=outcome, **kw)  # type: ignore[arg-type]


def test_begin_finish_and_live(tmp_path: Path) -> None:
    history = History(tmp_path, "local")
    assert history.read() == HistoryState(None, ())
    history.begin(_release(1, "in_progress"))
    history.finish("r0001", "succeeded", live="r0001", host_port=1234)
    state = history.read()
    assert state.live == "r0001"
    assert state.live_release is not None
    assert state.live_release.outcome == "succeeded"
    assert state.live_release.details == {"host_port": 1234}
    assert state.live_release.finished_at


def test_unfinished_records_move_on_and_are_found(tmp_path: Path) -> None:
    history = History(tmp_path, "local")
    history.begin(_release(1, "in_progress"))
    history.begin(_release(2))
    assert [r.release_id for r in history.unfinished()] == ["r0001"]
    history.mark("r0001", "shifting")
    assert history.read().releases[0].outcome == "shifting"
    history.finish("r0001", "interrupted", live="r0002")
    assert history.unfinished() == []
    assert history.read().live == "r0002"


def test_rollback_target_skips_live_failed_and_abandoned() -> None:
    releases = (
        _release(1),
        _release(2),
        _release(3, "failed"),
        _release(4),
    )
    state = HistoryState("r0004", releases)
    assert state.rollback_target() is not None
    assert state.rollback_target().version == "0.2.0"  # type: ignore[union-attr]
    # rolled back from 0.4.0 to 0.2.0: the next "previous" is 0.1.0, not 0.4.0 again
    back = replace(_release(2), release_id="r0005", kind="rollback", replaces="r0004")
    state = HistoryState("r0005", (*releases, back))
    assert state.rollback_target().version == "0.1.0"  # type: ignore[union-attr]
    assert state.succeeded_versions() == ["0.2.0", "0.4.0", "0.1.0"]
    assert state.latest_succeeded("0.3.0") is None


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["succeeded", "failed", "rolled_back", "interrupted"]), max_size=8))
def test_rollback_target_is_never_live_and_always_succeeded(outcomes: list[str]) -> None:
    releases = tuple(_release(i, o) for i, o in enumerate(outcomes, start=1))
    live = next((r.release_id for r in reversed(releases) if r.outcome == "succeeded"), None)
    target = HistoryState(live, releases).rollback_target()
    if target is not None:
        assert target.outcome == "succeeded"
        assert target.release_id != live


@pytest.mark.parametrize(
    "content", ["{ torn", "[]", '{"releases": 5}', '{"releases": [{"version": 1}]}', '{"live": 3}']
)
def test_a_corrupt_history_is_a_failure_that_can_be_set_aside(tmp_path: Path, content: str) -> None:
    (tmp_path / "history.json").write_text(content)
    history = History(tmp_path, "local")
    with pytest.raises(HistoryUnreadable, match="corrupt") as raised:
        history.read()
    assert raised.value.exit_code == 1
    aside = history.set_aside()
    assert aside is not None
    assert aside.read_text() == content
    assert history.read().releases == ()


WRITER = """
import sys
from pathlib import Path
from shipyard.history import History, Release
h = History(Path(sys.argv[1]), "local")
n = 0
print("go", flush=True)
while True:
    n += 1
    pad = {"pad": "x" * 4000}
    h.begin(Release(f"r{n}", "1.0.0", "sha256:x", "img", "t", "c", "a", "now", details=pad))
"""


def test_kill_9_while_writing_leaves_a_readable_history(tmp_path: Path) -> None:
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE
        )
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(0.3)
        proc.kill()
        proc.wait()
        data = json.loads((tmp_path / "history.json").read_text())
        assert data["releases"], "the writer never wrote"
        History(tmp_path, "local").read()
