"""`--json` promises one JSON document on stdout, failures included, and GitHub outputs are
written under `--json` as without it: CI steps parse stdout and read `$GITHUB_OUTPUT`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Project


def _one_document(stdout: str) -> dict[str, object]:
    document = json.loads(stdout)  # raises when stdout holds anything but one document
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize(
    ("args", "exit_code", "outcome", "words"),
    [
        (("release", "--env", "nowhere"), 2, "refused", "nowhere"),
        (("release", "--set", "not-a-version"), 2, "refused", "not-a-version"),
        (("deploy", "--env", "local", "--version", "9.9.9"), 2, "refused", "9.9.9"),
        (("verify", "--env", "local", "--url", "http://127.0.0.1:9"), 1, "failed", "127.0.0.1:9"),
        (("build", "--build-arg", "NOEQUALS"), 2, "refused", "NOEQUALS"),
        (("rollback", "--env", "local", "--to", "banana"), 2, "refused", "banana"),
    ],
)
def test_a_failure_under_json_still_prints_one_document(
    project: Project, args: tuple[str, ...], exit_code: int, outcome: str, words: str
) -> None:
    proc = project.inv(*args, "--json")
    assert proc.returncode == exit_code, proc.stdout + proc.stderr
    document = _one_document(proc.stdout)
    assert document["exit_code"] == exit_code
    # a release reports in its own vocabulary (its steps say where it stopped)
    assert document["outcome"] in ({outcome, "failed"} if args[0] == "release" else {outcome})
    assert words in str(document["error"])
    assert words in proc.stderr  # the human line is still on stderr
    assert "Traceback" not in proc.stderr
    if exit_code == 2 and args[0] != "release":
        assert document["changed"] is False


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_build_and_push_set_github_outputs_under_json(
    project: Project, registry_password: str, tmp_path: Path
) -> None:
    output = tmp_path / "github_output"
    summary = tmp_path / "github_summary"
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    for task in ("build", "tag", "push"):
        proc = project.inv(task, "--json", extra_env=github, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        _one_document(proc.stdout)
    outputs = _outputs(output)
    assert outputs["version"] == (project.path / "version.txt").read_text().strip()
    assert outputs["digest"].startswith("sha256:")
    assert outputs["image"].endswith("@" + outputs["digest"])
    assert outputs["tags"]
