"""The durable writes' rules test_local_history.py leaves open (found by `nox -s mutants`):
text is UTF-8 whatever the host's locale, a write that fails raises its own error and leaves
neither a temp file nor a changed target, and JSON values JSON has no type for are written
as their text."""

from __future__ import annotations

import datetime as dt
import json
import locale
from collections.abc import Iterator
from pathlib import Path

import pytest
import semver

from shipyard.fsutil import write_atomically, write_json_atomically


@pytest.fixture
def ascii_locale() -> Iterator[None]:
    """A host whose locale encoding is ASCII (the C locale without UTF-8 coercion)."""
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, before)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_text_is_written_as_utf8_whatever_the_locale(tmp_path: Path, ascii_locale: None) -> None:
    """A deployer named José, a check mark in a note: the file holds their UTF-8 bytes, on a
    host whose locale could not encode them."""
    path = tmp_path / "state" / "history.json"
    write_atomically(path, "actor: José ✓\n")
    assert path.read_bytes() == "actor: José ✓\n".encode()
    write_json_atomically(path, {"actor": "José"})
    assert json.loads(path.read_bytes().decode("utf-8")) == {"actor": "José"}


@pytest.mark.parametrize(
    ("text", "target_is_a_directory", "error"),
    [
        ("0.2.0\udc80\n", False, UnicodeEncodeError),  # the write itself fails
        ("0.2.0\n", True, IsADirectoryError),  # the rename fails
    ],
)
def test_a_failed_write_raises_its_own_error_and_leaves_no_temp_file(
    tmp_path: Path, text: str, target_is_a_directory: bool, error: type[Exception]
) -> None:
    """The caller sees why the write failed (not an error of the clean-up), the temp file
    is gone and the target keeps what it held."""
    path = tmp_path / "version.txt"
    if target_is_a_directory:
        path.mkdir()
    else:
        path.write_text("0.1.0\n")
    with pytest.raises(error):
        write_atomically(path, text)
    assert leftovers(tmp_path) == []
    assert path.is_dir() if target_is_a_directory else path.read_text() == "0.1.0\n"


def test_json_values_json_has_no_type_for_are_written_as_their_text(tmp_path: Path) -> None:
    """A time, a path or a version in a record is written as its text, not refused."""
    path = tmp_path / "release.json"
    at = dt.datetime(2026, 12, 3, 16, 0, tzinfo=dt.UTC)
    write_json_atomically(
        path, {"at": at, "file": Path("deploy/app.toml"), "version": semver.Version(1, 2, 3)}
    )
    assert json.loads(path.read_text()) == {
        "at": "2026-12-03 16:00:00+00:00",
        "file": "deploy/app.toml",
        "version": "1.2.3",
    }
    assert leftovers(tmp_path) == []


def test_a_state_file_is_indented_with_sorted_keys_so_its_diffs_stay_small(tmp_path: Path) -> None:
    # history.json and the release records are read by people too (and diffed): one key a
    # line, in one order whatever order the code built them in
    target = tmp_path / "history.json"
    write_json_atomically(target, {"releases": [{"version": "1.0.0", "digest": "d"}], "live": None})
    assert target.read_text(encoding="utf-8") == (
        '{\n  "live": null,\n  "releases": [\n    {\n      "digest": "d",\n'
        '      "version": "1.0.0"\n    }\n  ]\n}\n'
    )
