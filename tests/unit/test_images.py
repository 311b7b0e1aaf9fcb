"""Build requests and login commands as data: what docker will be asked to do."""

from __future__ import annotations

import pytest

from shipyard.commands import docker_build, docker_login
from shipyard.errors import UsageError
from shipyard.images import BuildRequest, image_ref, parse_build_args
from shipyard.operations.build import parse_platforms


def test_build_argv_carries_args_labels_platform_and_cache() -> None:
    request = BuildRequest(
        context="app",
        dockerfile="app/Dockerfile",
        tags=("web:1.0.0",),
        build_args={"APP_VERSION": "1.0.0", "HEALTHY": "false"},
        labels={"org.opencontainers.image.version": "1.0.0"},
        cache_from=("web:0.9.0", "127.0.0.1:5000/web:0.9.0"),
    )
    assert docker_build(request).argv == (
        "docker", "buildx", "build", "--progress", "plain",
        "--file", "app/Dockerfile", "--tag", "web:1.0.0",
        "--build-arg", "APP_VERSION=1.0.0", "--build-arg", "HEALTHY=false",
        "--label", "org.opencontainers.image.version=1.0.0",
        "--platform", "linux/amd64",
        "--cache-from", "web:0.9.0", "--cache-from", "127.0.0.1:5000/web:0.9.0",
        "--load", "app",
    )  # fmt: skip


def test_a_multi_platform_build_pushes_instead_of_loading() -> None:
    request = BuildRequest(
        "app", "app/Dockerfile", ("r/web:1",), platforms=("linux/amd64", "linux/arm64"), push=True
    )
    assert request.multi_platform
    argv = docker_build(request).argv
    assert "--push" in argv
    assert "--load" not in argv
    assert argv[argv.index("--platform") + 1] == "linux/amd64,linux/arm64"


def test_build_args_are_key_value_pairs() -> None:
    assert parse_build_args(["HEALTHY=false", "A_B=x=y", "EMPTY="]) == {
        "HEALTHY": "false",
        "A_B": "x=y",
        "EMPTY": "",
    }
    for bad in ["HEALTHY", "=x", "BAD KEY=1"]:
        with pytest.raises(UsageError, match="KEY=VALUE"):
            parse_build_args([bad])


def test_platforms_must_be_os_slash_arch() -> None:
    assert parse_platforms(("linux/amd64", "linux/arm64/v8")) == ("linux/amd64", "linux/arm64/v8")
    with pytest.raises(UsageError, match="os/arch"):
        parse_platforms(("amd64",))


def test_login_takes_the_password_on_stdin_only() -> None:
    login = docker_login("127.0.0.1:5000", "shipyard")
    argv = list(login.argv)
    assert login.stdin == "registry password"
    assert argv == [
        "docker",
        "login",
        "--username",
        "shipyard",
        "--password-stdin",
        "127.0.0.1:5000",
    ]
    assert not any(a in ("-p", "--password") or a.startswith("--password=") for a in argv)


def test_image_refs() -> None:
    assert image_ref(None, "web", "1.0.0") == "web:1.0.0"
    assert image_ref("127.0.0.1:5000", "team/web", "sha-abc") == "127.0.0.1:5000/team/web:sha-abc"
