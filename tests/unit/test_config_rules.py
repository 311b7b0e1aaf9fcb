"""Rules of the config sections and their loading (shipyard.config base, model, targets,
loader, merge).

A field's metadata is its description plus pydantic's constraints; a `Check` is the field's own
rule, run after the type is validated, whose sentence is the error; a section takes a TOML
table (a dict) although its fields stay strict. The rules' own sentences say what was wrong:
an address that is no IP or carries a %scope, a tag pattern, an unknown ECS hook or deployment
config (listed without the CodeDeployDefault. prefix), a target group. A secret reference
describes itself as kind:value. Loading reads a TOML file by path, names a file outside the
root by its full path, and says how to fix a SHIPYARD_ROOT without deploy/shipyard.toml. A
merge never shares a list item with its inputs, and appends the items of a keyed list that
are new or are not tables.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import TypeAdapter, ValidationError

from shipyard.config import validate
from shipyard.config.base import Check, SecretRef, Section, about, config_section
from shipyard.config.loader import find_root, read_bytes, read_toml
from shipyard.config.merge import deep_merge
from shipyard.config.model import EcrRegistryConfig, HttpCheck, ProjectConfig
from shipyard.config.targets import CodeDeployConfig, LocalTargetConfig
from shipyard.errors import ConfigError


def _even(value: list[int]) -> list[int]:
    if any(n % 2 for n in value):
        raise ValueError("only even numbers")
    return sorted(value)


def _probe_section() -> type[Section]:
    """A section built in the test, so that pydantic builds its validator here."""

    @config_section
    class Probe(Section):
        numbers: Annotated[list[int], Check(_even)] = dataclasses.field(default_factory=list)
        check: HttpCheck = dataclasses.field(default_factory=HttpCheck)

    return Probe


def error(cls: type[Any], data: dict[str, Any]) -> tuple[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as err:
        validate.section(cls, data)
    first = err.value.errors()[0]
    return first["loc"], first["msg"]


def test_a_field_s_metadata_is_its_description_and_its_constraints() -> None:
    assert about("the port", ge=1, le=65535) == {"description": "the port", "ge": 1, "le": 65535}
    name = next(f for f in dataclasses.fields(ProjectConfig) if f.name == "name")
    assert name.metadata["description"].startswith("the project's name")


def test_a_check_normalises_a_valid_value_and_words_an_invalid_one() -> None:
    adapter = TypeAdapter(_probe_section())
    assert adapter.validate_python({"numbers": [4, 2]}).numbers == [2, 4]
    with pytest.raises(ValidationError) as err:
        adapter.validate_python({"numbers": [2, 3]})
    first = err.value.errors()[0]
    assert (first["loc"], first["msg"]) == (("numbers",), "Value error, only even numbers")


def test_a_check_runs_after_the_field_s_type_is_validated() -> None:
    adapter = TypeAdapter(_probe_section())
    with pytest.raises(ValidationError) as err:
        adapter.validate_python({"numbers": ["2"]})  # strict: a string is no number
    first = err.value.errors()[0]
    assert (first["loc"], first["type"]) == (("numbers", 0), "int_type")


def test_a_section_takes_a_table_while_its_fields_stay_strict() -> None:
    adapter = TypeAdapter(_probe_section())
    probe = adapter.validate_python({"check": {"path": "/ready", "status": 204}})
    assert probe.check == HttpCheck(path="/ready", status=204)
    with pytest.raises(ValidationError) as err:
        adapter.validate_python({"check": {"path": "/ready", "status": "204"}})
    first = err.value.errors()[0]
    assert (first["loc"], first["type"]) == (("check", "status"), "int_type")
    fresh = TypeAdapter(HttpCheck)
    assert fresh.validate_python({"path": "/x"}) == HttpCheck(path="/x")


def test_a_secret_reference_describes_itself_as_kind_and_value() -> None:
    assert SecretRef(env="TOKEN").describe() == "env:TOKEN"
    assert SecretRef(file="secrets/pw").describe() == "file:secrets/pw"
    assert SecretRef(secretsmanager="arn:x").describe() == "secretsmanager:arn:x"


def test_an_address_that_is_no_ip_or_has_a_scope_is_worded() -> None:
    assert error(LocalTargetConfig, {"proxy_bind": "localhost"}) == (
        ("proxy_bind",),
        "Value error, expected an IP address such as 127.0.0.1 or 0.0.0.0, got 'localhost' "
        "(nginx listens on it; a host name is not accepted)",
    )
    assert error(LocalTargetConfig, {"proxy_bind": "fe80::1%eth0"}) == (
        ("proxy_bind",),
        "Value error, expected an IP address without a %scope, got 'fe80::1%eth0'",
    )
    assert validate.section(LocalTargetConfig, {"proxy_bind": "::1"}).proxy_bind == "::1"


def test_a_mutable_tag_pattern_with_a_space_is_worded() -> None:
    assert error(EcrRegistryConfig, {"mutable_tags": ["latest", "rc 1"]})[1] == (
        "Value error, 'rc 1' is not a tag pattern (letters, digits, _ . - and *)"
    )


CODEDEPLOY = {"application": "app", "deployment_group": "group"}


def test_an_unknown_deployment_config_lists_the_known_ones_without_their_prefix() -> None:
    _, msg = error(CodeDeployConfig, {**CODEDEPLOY, "deployment_config": "CodeDeployDefault.X"})
    assert msg == (
        "Value error, 'CodeDeployDefault.X' is not an ECS deployment config; use one of "
        "ECSAllAtOnce, ECSLinear10PercentEvery1Minutes, ECSLinear10PercentEvery3Minutes, "
        "ECSCanary10Percent5Minutes, ECSCanary10Percent15Minutes"
    )


def test_an_unknown_hook_and_a_bad_target_group_are_worded() -> None:
    hooks = {**CODEDEPLOY, "hooks": {"BeforeStart": "fn"}}
    assert error(CodeDeployConfig, hooks)[1] == (
        "Value error, 'BeforeStart' is not an ECS lifecycle hook; use BeforeInstall, "
        "AfterInstall, AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic"
    )
    groups = {**CODEDEPLOY, "target_groups": ["blue", "green_1"]}
    assert error(CodeDeployConfig, groups) == (
        ("target_groups",),
        "Value error, 'green_1' is not a target group name or ARN",
    )


def test_read_toml_reads_the_file_at_its_path(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    path = tmp_path / "deploy" / "x.toml"
    path.write_text('[verify]\nretries = 3\nurl = "http://h"\n')
    assert read_toml(path, tmp_path) == {"verify": {"retries": 3, "url": "http://h"}}
    path.write_bytes(b"a = \xff\n")
    with pytest.raises(ConfigError) as err:
        read_toml(path, tmp_path)
    assert err.value.one_line() == (
        "deploy/x.toml: not valid TOML: not UTF-8 text (byte 0xff at offset 4) "
        "(save the file as UTF-8)"
    )
    with pytest.raises(ConfigError) as err:
        read_toml(tmp_path / "deploy" / "gone.toml", tmp_path)
    assert err.value.message == "deploy/gone.toml: cannot read: No such file or directory"


def test_a_file_outside_the_root_is_named_by_its_full_path(tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "gone.toml"
    with pytest.raises(ConfigError) as err:
        read_bytes(missing, tmp_path / "project")
    assert err.value.message == f"{missing}: cannot read: No such file or directory"
    assert err.value.exit_code == 2


def test_a_shipyard_root_without_the_base_file_says_where_to_point_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_ROOT", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        find_root()
    assert err.value.one_line() == (
        f"SHIPYARD_ROOT={tmp_path} has no deploy/shipyard.toml "
        "(point SHIPYARD_ROOT at the project checkout)"
    )
    assert err.value.exit_code == 2


def _containers() -> dict[str, Any]:
    return {
        "containerDefinitions": [
            {"name": "app", "environment": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "environment": [{"name": "B", "value": "2"}]},
        ]
    }


def test_a_keyed_list_merge_shares_no_item_with_its_inputs() -> None:
    base = _containers()
    new = {"name": "worker", "environment": [{"name": "C", "value": "3"}]}
    overlay = {"containerDefinitions": [{"name": "app", "cpu": 256}, new]}
    merged = deep_merge(base, overlay)
    names = [c["name"] for c in merged["containerDefinitions"]]
    assert names == ["app", "sidecar", "worker"]
    assert merged["containerDefinitions"][2] == new
    for item in merged["containerDefinitions"]:
        item["environment"].append({"name": "Z", "value": "9"})
    assert base == _containers()
    assert new == {"name": "worker", "environment": [{"name": "C", "value": "3"}]}


def test_items_of_a_keyed_list_that_are_not_tables_or_new_are_appended() -> None:
    base = {"volumes": [{"name": "data"}]}
    merged = deep_merge(base, {"volumes": ["scratch", {"name": "logs"}, {"host": "/srv"}]})
    assert merged == {"volumes": [{"name": "data"}, "scratch", {"name": "logs"}, {"host": "/srv"}]}
