"""requirements/*.lock pin every dependency with hashes, agree with pyproject.toml, and the
runtime lock (what deploy jobs install next to cloud credentials) holds no dev tool."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ \\]+)")


def pins(name: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of each pinned package in a lock file."""
    found: dict[str, tuple[str, int]] = {}
    current = ""
    for line in (REPO / "requirements" / f"{name}.lock").read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match.group(1))
            found[current] = (match.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
    return found


def declared(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    listed = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return [Requirement(text) for text in listed]


@pytest.mark.parametrize(("lock", "extras"), [("runtime", [None]), ("dev", [None, "dev"])])
def test_every_declared_dependency_is_pinned_within_its_range(
    lock: str, extras: list[str | None]
) -> None:
    pinned = pins(lock)
    for extra in extras:
        for requirement in declared(extra):
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{name} is not in requirements/{lock}.lock: run nox -s lock"
            version, _ = pinned[name]
            assert requirement.specifier.contains(version, prereleases=True), (
                f"requirements/{lock}.lock pins {name}=={version} outside {requirement}: "
                "run nox -s lock"
            )


@pytest.mark.parametrize("lock", ["runtime", "dev"])
def test_every_pin_carries_hashes(lock: str) -> None:
    assert {name for name, (_, hashes) in pins(lock).items() if hashes == 0} == set()


def test_the_runtime_lock_is_the_dev_lock_without_the_dev_tools() -> None:
    runtime, dev = pins("runtime"), pins("dev")
    for name, (version, _) in runtime.items():
        assert dev.get(name, ("absent",))[0] == version, name
    tools = {canonicalize_name(r.name) for r in declared("dev")}
    assert tools & set(runtime) == set()
