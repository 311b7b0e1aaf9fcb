"""`inv tag` names one image with every ref in one go: the `docker tag` commands run side by
side (each is a round trip to the engine), a missing source image is told by docker tag itself
(no inspect beforehand), and a refusal names the first ref, in order, that failed.

`docker` here is a script on PATH that logs each call; a `tag` waits, up to ten seconds, until
every tag of the test has started, so commands run one after another cannot all succeed."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.adapters.docker import DockerEngine
from shipyard.errors import ToolUnavailable

FAKE_DOCKER = """#!/bin/sh
echo "$*" >> "{log}"
target="$3"
touch "{started}/$(echo "$target" | tr '/:' '__')"
n=0
while [ "$(ls "{started}" | wc -l)" -lt {expected} ]; do
  n=$((n + 1)); [ $n -gt 1000 ] && {{ echo "waited alone for the others" >&2; exit 3; }}
  sleep 0.01
done
case "$2:$target" in
  missing:*) echo "Error response from daemon: No such image: $2" >&2; exit 1 ;;
  *:*refused*) echo "Error response from daemon: refusing $target" >&2; exit 1 ;;
  *:*dead*) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock" >&2; exit 1 ;;
esac
"""

REFS = ("127.0.0.1:5000/shop:1.0.0", "127.0.0.1:5000/shop:sha-abc1234", "127.0.0.1:5000/shop:x")


def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expected: int) -> Path:
    log, started, bin_dir = tmp_path / "calls.log", tmp_path / "started", tmp_path / "bin"
    started.mkdir()
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(FAKE_DOCKER.format(log=log, started=started, expected=expected))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return log


def test_every_ref_is_tagged_by_commands_running_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_docker(tmp_path, monkeypatch, expected=3)
    assert DockerEngine().tag_all("shop:1.0.0", REFS) is True
    assert sorted(log.read_text().splitlines()) == sorted(f"tag shop:1.0.0 {r}" for r in REFS)


def test_a_source_the_engine_does_not_hold_is_false_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_docker(tmp_path, monkeypatch, expected=3)
    assert DockerEngine().tag_all("missing", REFS) is False


def test_a_refusal_names_the_first_ref_in_order_that_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_docker(tmp_path, monkeypatch, expected=3)
    refs = ("shop:ok", "shop:refused-1", "shop:refused-2")
    with pytest.raises(ToolUnavailable) as caught:
        DockerEngine().tag_all("shop:1.0.0", refs)
    assert caught.value.message == (
        "docker tag shop:1.0.0 shop:refused-1 failed: "
        "Error response from daemon: refusing shop:refused-1"
    )


def test_an_engine_that_does_not_answer_is_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_docker(tmp_path, monkeypatch, expected=1)
    with pytest.raises(ToolUnavailable) as caught:
        DockerEngine().tag_all("shop:1.0.0", ("shop:dead",))
    assert caught.value.message == "the Docker engine is not answering"


def test_no_docker_command_at_all_is_one_line_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolUnavailable) as caught:
        DockerEngine().tag_all("shop:1.0.0", REFS)
    assert (caught.value.message, caught.value.hint) == (
        "the docker command is not installed",
        "run scripts/bootstrap.sh",
    )
