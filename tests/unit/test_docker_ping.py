"""The engine's version is asked once per engine address and process: the tasks of one command
line (`inv build tag push`) each make an engine object, and each asked the same question of the
same engine (a docker command, ~40 ms). Another address is another engine, asked again; an engine
that does not answer is never remembered as answering.

`docker` here is a script on PATH that logs each call and answers as an engine would."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.adapters import docker
from shipyard.adapters.docker import DockerEngine
from shipyard.errors import ToolUnavailable

FAKE_DOCKER = """#!/bin/sh
echo "$DOCKER_HOST $*" >> "{log}"
case "$DOCKER_HOST" in
  *dead*) echo "Cannot connect to the Docker daemon at $DOCKER_HOST" >&2; exit 1 ;;
esac
echo "27.3.1 linux/arm64"
"""


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(FAKE_DOCKER.format(log=log))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(docker, "_PINGED", {})
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/one.sock")
    return log


def asked(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_two_engine_objects_in_one_process_ask_the_engine_once(calls: Path) -> None:
    first, second = DockerEngine(), DockerEngine()
    assert first.ping() == "27.3.1"
    assert second.ping() == "27.3.1"
    assert second.native_platform == "linux/arm64"  # the shared answer carries the platform
    assert len(asked(calls)) == 1
    assert "version --format" in asked(calls)[0]


def test_another_engine_address_is_asked_again(
    calls: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    DockerEngine().ping()
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/two.sock")
    DockerEngine().ping()
    monkeypatch.setenv("DOCKER_CONTEXT", "remote")
    DockerEngine().ping()
    hosts = [line.split()[0] for line in asked(calls)]
    assert hosts == ["unix:///run/one.sock", "unix:///run/two.sock", "unix:///run/two.sock"]


def test_an_engine_that_does_not_answer_is_asked_each_time(
    calls: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/dead.sock")
    for _ in range(2):
        with pytest.raises(ToolUnavailable, match="the Docker engine is not answering"):
            DockerEngine().ping()
    assert len(asked(calls)) == 2
    assert docker._PINGED == {}
