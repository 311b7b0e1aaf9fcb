"""shipyard.config.cache: a configuration validated once is loaded, not validated, next time;
any change to what validation reads is a new entry; an entry that is foreign, torn or stale
is a miss; errors are never cached."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from shipyard.config import cache, load_config, validate
from shipyard.config.cache import KEPT_ENTRIES, cache_dir
from shipyard.config.model import ShipyardConfig
from shipyard.errors import ConfigError
from tests.conftest import REPO


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(tmp_path / "cache")}


def entries(environ: dict[str, str]) -> list[Path]:
    directory = cache_dir(environ)
    assert directory is not None
    return sorted(directory.glob("*.pickle"))


def count_validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = validate.section

    def counting(cls: type[Any], data: Mapping[str, Any]) -> Any:
        if cls is ShipyardConfig:
            calls.append(1)
        return real(cls, data)

    monkeypatch.setattr(validate, "section", counting)
    return calls


def test_the_second_load_is_the_first_result_without_validating(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_validations(monkeypatch)
    first = load_config("staging", root=REPO, environ=environ)
    second = load_config("staging", root=REPO, environ=environ)
    assert second == first
    assert len(calls) == 1
    (entry,) = entries(environ)
    assert entry.parent.stat().st_mode & 0o777 == 0o700


def test_another_input_is_another_entry(environ: dict[str, str]) -> None:
    load_config("staging", root=REPO, environ=environ)
    load_config("staging", root=REPO, environ={**environ, "AWS_REGION": "eu-west-1"})
    flagged = load_config(
        "staging", root=REPO, environ=environ, overrides={"aws.region": "us-east-2"}
    )
    assert flagged.aws.region == "us-east-2"
    assert len(entries(environ)) == 3


def test_an_edited_config_file_is_validated_again(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "deploy" / "environments").mkdir(parents=True)
    base = root / "deploy" / "shipyard.toml"
    base.write_text((REPO / "deploy" / "shipyard.toml").read_text())
    env_file = root / "deploy" / "environments" / "staging.toml"
    env_file.write_text((REPO / "deploy" / "environments" / "staging.toml").read_text())
    environ = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert load_config("staging", root=root, environ=environ).aws.region == "ap-northeast-2"
    base.write_text(base.read_text().replace('"ap-northeast-2"', '"sa-east-1"', 1))
    assert load_config("staging", root=root, environ=environ).aws.region == "sa-east-1"


@pytest.mark.parametrize("damage", ["torn", "not a config", "group-writable", "symlink"])
def test_a_bad_entry_is_a_miss_and_is_replaced(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    good = load_config("staging", root=REPO, environ=environ)
    (entry,) = entries(environ)
    if damage == "torn":
        entry.write_bytes(entry.read_bytes()[:40])
    elif damage == "not a config":
        entry.write_bytes(pickle.dumps({"aws": "elsewhere"}))
    elif damage == "group-writable":
        entry.chmod(0o664)
    else:
        elsewhere = entry.with_name("elsewhere")
        entry.rename(elsewhere)
        entry.symlink_to(elsewhere)
    calls = count_validations(monkeypatch)
    assert load_config("staging", root=REPO, environ=environ) == good
    assert len(calls) == 1, "a bad entry was used instead of validating"


def test_an_invalid_config_is_never_stored(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_config("staging", root=REPO, environ=environ, overrides={"aws.region": 5})
    directory = cache_dir(environ)
    assert directory is not None
    assert not directory.exists() or entries(environ) == []


def test_off_stores_nothing(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "SHIPYARD_CONFIG_CACHE": "off"}
    load_config("staging", root=REPO, environ=environ)
    assert not (tmp_path / ".cache").exists()


def test_only_the_newest_entries_are_kept(environ: dict[str, str]) -> None:
    for n in range(KEPT_ENTRIES + 3):
        load_config("staging", root=REPO, environ={**environ, "ECR_REPOSITORY": f"repo{n}"})
    assert len(entries(environ)) == KEPT_ENTRIES


def test_the_installed_pydantic_is_part_of_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pydantic
    import pydantic_core

    found = {name: cache._installed(name) for name in cache.VALIDATORS}
    assert f"pydantic-{pydantic.VERSION}.dist-info" in found["pydantic"][-1]
    assert f"pydantic_core-{pydantic_core.__version__}.dist-info" in found["pydantic_core"][-1]
    assert Path(found["pydantic"][1]) == Path(pydantic.__file__).parent
    inputs = ("staging", b"[aws]\n")
    before = cache.key_of(inputs)
    upgraded = {**found, "pydantic": [*found["pydantic"][:-1], ["pydantic-9.9.9.dist-info"]]}
    monkeypatch.setattr(cache, "_installed", upgraded.__getitem__)
    assert cache.key_of(inputs) != before


def test_a_validator_that_is_not_installed_is_still_a_key() -> None:
    assert cache._installed("no_such_package_for_shipyard") == [
        "no_such_package_for_shipyard",
        None,
    ]


def test_the_suite_keeps_validated_configurations_out_of_the_users_cache() -> None:
    # tests/conftest.py points XDG_CACHE_HOME, which `inv` processes inherit, at its own
    # directory: a suite's throwaway projects would otherwise evict the user's entries
    directory = cache_dir(os.environ)
    assert directory is not None
    assert directory.is_relative_to(tempfile.gettempdir())
    assert not directory.is_relative_to(Path.home() / ".cache")
