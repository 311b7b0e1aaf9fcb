"""Release history: atomic, readable after kill -9, and the rollback rules."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

import shipyard
from shipyard.history import History, HistoryState, HistoryUnreadable, Release, new_release_id
from tests.support.hypothesis_policy import PROPERTY
from tests.support.time_zone import local_time_zone


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


def test_versions_that_succeeded_and_the_latest_of_one_skip_down_records() -> None:
    down = replace(_release(3), release_id="r0009", kind="down", version="0.3.0")
    state = HistoryState(None, (_release(1), _release(2, "failed"), _release(3), down))
    assert state.succeeded_versions() == ["0.3.0", "0.1.0"]
    assert state.latest_succeeded("0.3.0") == _release(3)  # not the down record
    assert state.latest_succeeded("0.2.0") is None  # it failed
    only_down = HistoryState(None, (replace(down, release_id="r0001"),))
    assert only_down.succeeded_versions() == []
    assert only_down.latest_succeeded("0.3.0") is None
    assert only_down.rollback_target() is None


def test_finish_keeps_or_replaces_what_it_is_told_to(tmp_path: Path) -> None:
    history = History(tmp_path, "local")
    history.begin(replace(_release(1, "in_progress"), message="deploy 0.1.0"))
    history.begin(_release(2, "in_progress"))
    history.set_live("r0002")
    kept = history.finish("r0001", "failed")  # no message, live untouched
    assert kept.message == "deploy 0.1.0"
    assert kept.finished_at
    assert history.read().live == "r0002"
    history.finish("r0001", "failed", message="")  # an empty message is a message
    assert history.read().get("r0001").message == ""  # type: ignore[union-attr]
    history.finish("r0002", "rolled_back", live=None)  # nothing serves now
    assert history.read().live is None
    history.mark("r0001", "shifting")  # a mark keeps the live record as it is
    history.set_live("r0001")
    history.mark("r0002", "finalizing")
    assert history.read().live == "r0001"
    with pytest.raises(HistoryUnreadable, match=r"release r0404 is not in .*history\.json"):
        history.finish("r0404", "failed")


def test_set_live_writes_only_a_change(tmp_path: Path) -> None:
    history = History(tmp_path, "local")
    history.begin(_release(1))
    history.set_live("r0001")
    before = history.path.stat().st_mtime_ns, history.path.read_bytes()
    history.path.chmod(0o444)  # a second write would have to replace it
    history.set_live("r0001")
    assert (history.path.stat().st_mtime_ns, history.path.read_bytes()) == before


def test_a_corrupt_history_is_set_aside_under_a_timestamped_name(tmp_path: Path) -> None:
    history = History(tmp_path, "local")
    assert history.set_aside() is None  # nothing there: nothing to move
    history.path.write_text("{ torn")
    aside = history.set_aside()
    assert aside is not None
    assert aside.parent == tmp_path
    assert re.fullmatch(r"history\.json\.corrupt-\d{8}T\d{6}", aside.name), aside.name
    assert not history.path.exists()


# -- the rollback choice as a property -----------------------------------------------------------
# Histories as the local target writes them, and worse: deploys and rollbacks (a rollback
# `replaces` the release it moved away from), every outcome, digests drawn from a small pool so
# the same image is released again and again, `live` on any record, on a missing id or none.
DIGESTS = [f"sha256:{c * 64}" for c in "abcd"]
OUTCOMES = [
    *["succeeded"] * 5,
    *["failed", "rolled_back", "interrupted", "unknown", "superseded"],
    *["in_progress", "shifting", "finalizing"],
]


@st.composite
def histories(draw: st.DrawFn) -> HistoryState:
    """A history as the local target writes it: deploys of new and of earlier images,
    rollbacks to earlier records (each `replaces` what was live), downs, every outcome; then
    `live` as the run left it, or (lost or odd records) none, any record or a missing id."""
    n = draw(st.integers(0, 9))
    releases: list[Release] = []
    live: str | None = None
    for i in range(1, n + 1):
        op = draw(st.sampled_from(["deploy", "deploy", "again", "rollback", "rollback", "down"]))
        outcome = draw(st.sampled_from(OUTCOMES))
        earlier = draw(st.sampled_from(releases)) if releases else None
        if op in ("again", "rollback") and earlier is not None:
            digest = earlier.digest  # the same image once more
        else:
            digest = draw(st.sampled_from(DIGESTS))
        kind = {"again": "deploy", "rollback": "rollback", "down": "down"}.get(op, "deploy")
        if op == "deploy" and draw(st.booleans()) and draw(st.booleans()):
            kind = "recovered"
        replaces = live if draw(st.integers(0, 5)) else "r0000"  # r0000: a record lost
        release = replace(_release(i, outcome), kind=kind, digest=digest, replaces=replaces)
        releases.append(release)
        if outcome == "succeeded":
            live = None if kind == "down" else release.release_id
    ids = [r.release_id for r in releases]
    odd = st.one_of(st.none(), st.just("r9999"), *(st.just(i) for i in ids))
    final = draw(st.one_of(st.just(live), st.just(live), st.just(live), odd))
    return HistoryState(final, tuple(releases))


def qualifies(state: HistoryState, index: int) -> bool:
    """The rule, stated on one record: a succeeded release, not live, not the live image, and
    not an image that a succeeded rollback at or after it moved away from."""
    r = state.releases[index]
    live = state.live_release
    if r.outcome != "succeeded" or r.kind == "down" or r.release_id == state.live:
        return False  # a `down` record took the environment away: nothing to return to
    if live is not None and r.digest == live.digest:
        return False
    left = {
        moved.digest
        for later in state.releases[index:]
        if later.kind == "rollback" and later.outcome == "succeeded"
        for moved in [state.get(later.replaces)]
        if moved is not None
    }
    return r.digest not in left


def _plain(state: HistoryState, index: int) -> bool:
    """`qualifies` without the abandoned rule (for the statistics only)."""
    r = state.releases[index]
    live = state.live_release
    return (
        r.outcome == "succeeded"
        and r.kind != "down"
        and r.release_id != state.live
        and (live is None or r.digest != live.digest)
    )


@PROPERTY
@example(HistoryState(None, ()))
@example(  # rolled back from 3 to 2: the next target is 1, never 3's image again
    HistoryState(
        "r0004",
        (
            _release(1),
            _release(2),
            _release(3),
            replace(_release(2), release_id="r0004", kind="rollback", replaces="r0003"),
        ),
    )
)
@example(  # the same image released twice: its older record is no way back either
    HistoryState("r0003", (_release(1), _release(2), replace(_release(2), release_id="r0003")))
)
@given(histories())
def test_rollback_target_is_the_newest_release_the_rule_allows(state: HistoryState) -> None:
    target = state.rollback_target()
    allowed = [i for i in range(len(state.releases)) if qualifies(state, i)]
    event(f"target: {'none' if target is None else 'found'}")
    event(f"rollbacks: {sum(r.kind == 'rollback' for r in state.releases) > 0}")
    event(f"repeated digests: {len({r.digest for r in state.releases}) < len(state.releases)}")
    abandoned = any(qualifies(state, i) != _plain(state, i) for i in range(len(state.releases)))
    event(f"abandoned: {abandoned}")
    if target is None:
        assert allowed == [], "a release the rule allows was not chosen"
        return
    assert target.outcome == "succeeded"
    assert target.release_id != state.live
    if state.live_release is not None:
        assert target.digest != state.live_release.digest
    assert allowed, "chose a release the rule does not allow"
    assert state.releases.index(target) == allowed[-1], "not the newest release the rule allows"


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


# -- atomic writes: a process killed between writing and renaming ------------------------------
# The real writer (History.begin -> fsutil.write_json_atomically) in a subprocess, with the
# shipyard fault points (rollout/faults.py) placed around its rename: SHIPYARD_FAULT pauses it
# exactly there, the test looks at the directory and then kills it with SIGKILL.
WRITER = """
import os, sys
from pathlib import Path
from shipyard.history import History, Release
from shipyard.rollout import faults

rename = os.replace
def replace(src, dst):
    faults.point("inside:history-write")  # the new content is written and fsynced, not renamed
    rename(src, dst)
    faults.point("after:history-write")  # renamed; the directory is not fsynced yet
os.replace = replace

History(Path(sys.argv[1]), "local").begin(
    Release("r0002", "0.2.0", "sha256:b", "img@b", "t", "c", "a", "now",
            details={"pad": "x" * 9000})
)
"""


POLL = 0.01


def _paused_writer(state_dir: Path, point: str) -> subprocess.Popen[bytes]:
    """The writer, started and paused at `point` (its ready file written)."""
    ready = state_dir.parent / "ready"
    env = {
        **os.environ,
        "SHIPYARD_FAULT": f"{point}:pause",
        "SHIPYARD_FAULT_READY": str(ready),
        # the shipyard this test imported (under mutation testing: the mutated one)
        "PYTHONPATH": str(Path(shipyard.__file__).parents[1]),
    }
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(state_dir)], env=env)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, f"the writer exited {proc.returncode} before {point}"
        assert time.monotonic() < deadline, f"the writer never reached {point}"
        time.sleep(POLL)  # polls for the pause: the ready file is the synchronisation
    assert ready.read_text() == point
    return proc


@pytest.mark.parametrize("point", ["inside:history-write", "after:history-write"])
def test_kill_9_between_writing_and_renaming_leaves_one_whole_history(
    tmp_path: Path, point: str
) -> None:
    """Killed after the new content is on disk but before the rename, history.json is exactly
    the previous content, readable, with the new one in a temp file beside it; killed right
    after the rename, it is exactly the new content. Never a mixture, never torn."""
    state_dir = tmp_path / "state"
    history = History(state_dir, "local")
    history.begin(_release(1))
    previous = history.path.read_bytes()

    proc = _paused_writer(state_dir, point)
    try:
        pending = sorted(state_dir.glob(".history.json.*.tmp"))
        if point == "inside:history-write":
            assert history.path.read_bytes() == previous  # not touched until the rename
            (temp,) = pending  # the whole new content waits beside it, same directory
            written = json.loads(temp.read_text())
            assert [r["release_id"] for r in written["releases"]] == ["r0001", "r0002"]
        else:
            assert pending == []  # renamed: no temp file is left
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    ids = [r.release_id for r in history.read().releases]
    if point == "inside:history-write":
        assert history.path.read_bytes() == previous
        assert ids == ["r0001"]
    else:
        assert ids == ["r0001", "r0002"]
        assert json.loads(history.path.read_text())["releases"][1]["details"]["pad"] == "x" * 9000
    history.begin(_release(3))  # the next writer goes on from what is there
    assert [r.release_id for r in history.read().releases] == [*ids, "r0003"]


@pytest.fixture
def far_from_utc() -> Iterator[None]:
    """A host clock set to a zone 9 hours east of UTC, where local and UTC stamps differ."""
    with local_time_zone("Asia/Seoul"):
        yield


def _within_a_minute_of_utc_now(stamp: str, fmt: str) -> bool:
    seen = dt.datetime.strptime(stamp, fmt).replace(tzinfo=dt.UTC)
    return abs((dt.datetime.now(dt.UTC) - seen).total_seconds()) < 60


def test_finish_stamps_the_record_in_utc(tmp_path: Path, far_from_utc: None) -> None:
    history = History(tmp_path, "local")
    history.begin(_release(1, outcome="in_progress"))
    finished = history.finish("r0001", "succeeded")
    stamp = dt.datetime.fromisoformat(finished.finished_at or "")
    assert stamp.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - stamp).total_seconds()) < 60


def test_release_ids_and_set_aside_names_use_utc_whatever_the_host_zone(
    tmp_path: Path, far_from_utc: None
) -> None:
    release_id = new_release_id()
    assert _within_a_minute_of_utc_now(release_id[1:15], "%Y%m%d%H%M%S"), release_id
    history = History(tmp_path, "local")
    history.path.write_text("{ torn")
    aside = history.set_aside()
    assert aside is not None
    assert _within_a_minute_of_utc_now(aside.name.rsplit("-", 1)[1], "%Y%m%dT%H%M%S")
