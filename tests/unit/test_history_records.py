"""Release records: who a record names as its actor when nothing names one (the login of the
process, and on a host where even that cannot be found, such as a container run with
`--user <uid>` that has no passwd entry, `unknown`); what history.json holds; records written
by older or newer shipyards; and what a corrupt or unreadable history says."""

from __future__ import annotations

import getpass
import json
import pwd
from dataclasses import replace
from pathlib import Path

import pytest

from shipyard.history import (
    FILE_NAME,
    History,
    HistoryState,
    HistoryUnreadable,
    Release,
    current_actor,
)

_LOGIN_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")  # what getpass.getuser reads


@pytest.fixture
def no_login_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process environment naming no user (getpass.getuser falls back to the passwd
    database)."""
    for name in _LOGIN_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _no_passwd_entry(uid: int) -> pwd.struct_passwd:
    raise KeyError(f"getpwuid(): uid not found: {uid}")  # what pwd says for such a uid


def test_the_actor_falls_back_to_the_login_of_the_process(
    no_login_names: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No CI actor and no USER/LOGNAME in the given environ: the process' login is recorded."""
    monkeypatch.setenv("LOGNAME", "dora")
    assert getpass.getuser() == "dora"
    assert current_actor({}) == "dora"
    assert current_actor({"GITHUB_ACTOR": "", "USER": ""}) == "dora"


def test_a_uid_without_a_passwd_entry_is_recorded_as_unknown(
    no_login_names: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the login cannot be found either, the actor is `unknown`, never an exception: a
    deploy must not fail (or leave no record) because the host cannot name its user."""
    monkeypatch.setattr(pwd, "getpwuid", _no_passwd_entry)
    with pytest.raises(KeyError):
        getpass.getuser()  # the host really cannot name the user
    assert current_actor({}) == "unknown"
    assert current_actor({"GITHUB_ACTOR": "", "USER": "", "LOGNAME": ""}) == "unknown"


# -- history.json as written and as read --------------------------------------------------------
def _record(n: int, **changes: object) -> dict[str, object]:
    """A release record as history.json holds it."""
    record: dict[str, object] = {
        "release_id": f"r{n:04d}",
        "version": f"0.{n}.0",
        "digest": f"sha256:{n:064x}",
        "image": f"img@{n}",
        "taskdef_hash": "sha256:t",
        "commit": "c" * 40,
        "actor": "tester",
        "started_at": "2026-01-01T00:00:00+00:00",
    }
    record.update(changes)
    return record


def _history(tmp_path: Path, content: object) -> History:
    (tmp_path / FILE_NAME).write_text(json.dumps(content))
    return History(tmp_path, "staging")


def test_the_file_names_its_environment_and_begin_keeps_what_is_live(tmp_path: Path) -> None:
    """history.json says which environment it is the history of, which release is live and
    every record; beginning a new release leaves the live one live (it is not serving yet)."""
    history = History(tmp_path / "state", "staging")
    history.path.parent.mkdir()
    first = Release.from_dict(_record(1))
    history.begin(first)
    history.set_live("r0001")
    history.begin(Release.from_dict(_record(2, outcome="in_progress")))
    written = json.loads(history.path.read_text())
    assert written["environment"] == "staging"
    assert written["live"] == "r0001"
    assert [r["release_id"] for r in written["releases"]] == ["r0001", "r0002"]
    assert written["releases"][0] == first.as_dict()
    assert history.read().live_release == first


def test_records_written_by_other_versions_of_shipyard_are_read(tmp_path: Path) -> None:
    """A record from before a field existed reads with that field's default; a field this
    shipyard does not know (written by a newer one) is ignored; a live id whose record is gone
    names no live release; a file without releases is an empty history."""
    old = _record(1)  # no kind, outcome, finished_at, message, image_id, replaces, details
    new = _record(2, outcome="succeeded", region="eu-west-1")
    state = _history(tmp_path, {"live": "r0002", "releases": [old, new]}).read()
    assert state.live == "r0002"
    first, second = state.releases
    assert (first.kind, first.outcome, first.finished_at, first.message) == (
        "deploy",
        "in_progress",
        None,
        "",
    )
    assert (first.image_id, first.replaces, first.details) == ("", None, {})
    assert second == replace(Release.from_dict(_record(2)), outcome="succeeded")
    lost = _history(tmp_path, {"live": "r0404", "releases": [old]}).read()
    assert (lost.live, lost.live_release) == ("r0404", None)  # its record was lost
    assert _history(tmp_path, {"live": None}).read() == HistoryState(None, ())
    assert _history(tmp_path, {}).read() == HistoryState(None, ())


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ([], "expected a JSON object, found list"),
        ({"releases": 5}, "releases is not a list"),
        ({"releases": {"r0001": _record(1)}}, "releases is not a list"),
        ({"live": 3, "releases": []}, "live is not a release id"),
        ({"releases": [5]}, "a release record is a JSON object, not int"),
        ({"releases": [["r0001"]]}, "a release record is a JSON object, not list"),
        (
            {"releases": [{"version": "0.1.0", "image": "img@1"}]},
            "a release record lacks release_id, digest, taskdef_hash, commit, actor, started_at",
        ),
        (  # every field without a default is required, not only the five typed ones
            {"releases": [{k: v for k, v in _record(1).items() if k not in ("commit", "actor")}]},
            "a release record lacks commit, actor",
        ),
        ({"releases": [_record(1, version=1)]}, "release record field version is not a string"),
        (
            {"releases": [_record(1, digest=None, started_at=0)]},
            "release record field digest is not a string",
        ),
    ],
)
def test_a_corrupt_history_says_what_is_wrong_with_it(
    tmp_path: Path, content: object, reason: str
) -> None:
    """The error names the file and exactly what is wrong, and the hint says what happens
    next (the history is kept aside and rebuilt; nothing serving is stopped)."""
    history = _history(tmp_path, content)
    with pytest.raises(HistoryUnreadable) as raised:
        history.read()
    assert raised.value.message == f"{history.path}: release history is corrupt: {reason}"
    assert raised.value.hint == (
        "the next deploy, rollback or `inv wait` keeps it aside and rebuilds the records from "
        "what serves; nothing serving is stopped"
    )


def test_a_history_that_cannot_be_read_says_why(tmp_path: Path) -> None:
    """A history.json that is there but cannot be read (here: a directory) is reported as
    unreadable with the system's reason, not as an empty history."""
    (tmp_path / FILE_NAME).mkdir()
    with pytest.raises(HistoryUnreadable) as raised:
        History(tmp_path, "staging").read()
    assert raised.value.message.startswith(
        f"{tmp_path / FILE_NAME}: release history is unreadable: [Errno 21] Is a directory"
    )
