"""The suite's `--dist loadgroup` really keeps an `xdist_group` on one worker, in one piece.

The workflow rehearsal builds its module fixture once (minutes of work) only if every test of
its group runs on one worker, back to back. pytest 9.2 with pytest-xdist 3.8 silently dropped the
group: each of three workers rebuilt the fixture, a third of the suite's time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GROUPED = """
import os
import pytest

pytestmark = [pytest.mark.xdist_group("together")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    with open(os.environ["SETUPS_FILE"], "a") as log:
        log.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")


@pytest.mark.parametrize("label", ["main 1", "main 2", "develop", "pull request", "release"])
def test_grouped(built, label):
    pass
"""

LOOSE = """
def test_loose():
    pass
"""


def test_a_group_builds_its_module_fixture_once(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    for n in range(6):
        (tmp_path / f"test_loose_{n}.py").write_text(LOOSE)
    setups = tmp_path / "setups"
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-cov"]
    run = subprocess.run(
        [*pytest, "-n", "3", "--dist", "loadgroup", "-o", "addopts=", str(tmp_path)],
        cwd=tmp_path,
        env={"SETUPS_FILE": str(setups), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    built_on = setups.read_text().split()
    assert len(built_on) == 1, f"the grouped module fixture was built on {built_on}"
