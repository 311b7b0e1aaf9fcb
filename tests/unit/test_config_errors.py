"""Configuration validation says where and what, in one line (exit 2), for each kind of
mistake: the file, flag or environment variable the value came from; the dotted key (with
pydantic's union tags removed); an unknown key with the keys allowed there; a missing value; a
number or boolean written as a string; a secret written as a value (never echoed back); a
validator's own sentence; and how many more problems there are."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from shipyard.config import load_config
from shipyard.config.aws import ScanConfig
from shipyard.config.model import ShipyardConfig
from shipyard.config.targets import EcsTargetConfig
from shipyard.errors import ConfigError
from tests.conftest import REPO


def problem(
    tmp_path: Path,
    env: str = "staging",
    toml: str = "",
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> ConfigError:
    root = tmp_path / "project"
    if not root.exists():
        shutil.copytree(REPO / "deploy", root / "deploy")
    path = root / "deploy" / "environments" / f"{env}.toml"
    path.write_text(path.read_text() + "\n" + toml + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(env, root=root, overrides=overrides, environ=environ or {})
    assert err.value.exit_code == 2
    return err.value


def allowed(model: type[Any]) -> str:
    return ", ".join(sorted(f.name for f in dataclasses.fields(model)))


def test_an_unknown_key_in_a_file_names_the_file_and_the_keys_allowed_there(
    tmp_path: Path,
) -> None:
    err = problem(tmp_path, toml="[scan]\nfail_onn = 'HIGH'\n")
    assert err.message == (
        "deploy/environments/staging.toml: scan.fail_onn: unknown key; "
        f"allowed here: {allowed(ScanConfig)}"
    )


def test_an_unknown_key_of_a_target_lists_that_kind_of_target_s_keys(tmp_path: Path) -> None:
    err = problem(tmp_path, overrides={"target.clusterr": "x"})
    assert err.message == (
        f"command-line flag: target.clusterr: unknown key; allowed here: {allowed(EcsTargetConfig)}"
    )


def test_an_unknown_top_level_key_lists_the_sections(tmp_path: Path) -> None:
    err = problem(tmp_path, overrides={"bogus": 1})
    assert (
        err.message
        == f"command-line flag: bogus: unknown key; allowed here: {allowed(ShipyardConfig)}"
    )


def test_an_unknown_key_in_a_list_item_is_named_by_its_position(tmp_path: Path) -> None:
    err = problem(tmp_path, overrides={"target.services": [{"name": "a", "nme": "b"}]})
    assert err.message == "command-line flag: target.services.0.nme: unknown key"


def test_a_missing_value_is_named(tmp_path: Path) -> None:
    err = problem(tmp_path, toml="[[scan.allowlist]]\nid = 'CVE-1'\nexpires = 2030-01-01\n")
    assert err.message == (
        "deploy/environments/staging.toml: scan.allowlist.0.reason: required value is missing"
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("target.proxy_port", "8080", "input should be a valid integer, got '8080'"),
        ("target.bake_seconds", "5", "input should be a valid number, got '5'"),
        ("target.pull_missing_images", "true", "input should be a valid boolean, got 'true'"),
    ],
)
def test_a_number_or_boolean_written_as_a_string_says_to_drop_the_quotes(
    tmp_path: Path, key: str, value: str, expected: str
) -> None:
    err = problem(tmp_path, "local", overrides={key: value})
    assert err.message == (
        f"command-line flag: {key}: {expected} (a string: write it without quotes)"
    )


def test_a_wrong_type_that_is_no_string_shows_what_was_given(tmp_path: Path) -> None:
    err = problem(tmp_path, "local", overrides={"registry.url": 5})
    assert err.message == "command-line flag: registry.url: input should be a valid string, got 5"
    nested = problem(tmp_path / "b", overrides={"image.tags": ["{bogus}"]})
    assert nested.message.endswith(
        "image.tags: input should be a valid dictionary or instance of TagsConfig"
    )


def test_a_secret_written_as_its_value_is_never_echoed_back(tmp_path: Path) -> None:
    err = problem(tmp_path, "local", overrides={"registry.password": "hunter2-secret"})
    assert "hunter2" not in err.message
    assert err.message == (
        "command-line flag: registry.password: expected a secret reference such as "
        '{ env = "NAME" }, { file = "path" }, { ssm = "/param" } or '
        '{ secretsmanager = "arn:..." }, never the value itself'
    )
    both = problem(
        tmp_path / "b", "local", overrides={"registry.password": {"env": "A", "file": "b"}}
    )
    assert both.message == (
        "command-line flag: registry.password: a secret reference needs exactly one of env, "
        "ssm, secretsmanager, file"
    )


def test_a_validator_s_sentence_is_the_message(tmp_path: Path) -> None:
    err = problem(tmp_path, overrides={"target.services": [{"name": "a"}, {"name": "a"}]})
    assert err.message == "command-line flag: target.services: service 'a' is listed twice"


def test_an_environment_variable_is_named_as_the_source(tmp_path: Path) -> None:
    err = problem(tmp_path, environ={"AWS_ACCOUNT_ID": "12"})
    assert err.message == (
        "environment variable: aws.account_id: string should match pattern '^\\d{12}$', got '12'"
    )


def test_more_problems_are_counted(tmp_path: Path) -> None:
    err = problem(
        tmp_path, "local", overrides={"target.proxy_port": "x", "target.bake_seconds": "y"}
    )
    assert err.message.endswith("(a string: write it without quotes) (and 1 more problem(s))")
    three = problem(
        tmp_path / "b",
        "local",
        overrides={
            "target.proxy_port": "x",
            "target.bake_seconds": "y",
            "target.keep_releases": "z",
        },
    )
    assert three.message.endswith("(and 2 more problem(s))")
