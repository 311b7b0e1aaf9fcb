"""Config: deep merge, validation messages (file + key path + expectation), precedence,
secrets by reference only and redacted wherever printed."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.config import load_config
from shipyard.config.merge import deep_merge
from shipyard.console import Console
from shipyard.errors import ConfigError, ShipyardError, UsageError
from shipyard.plan import Plan
from shipyard.secrets import MASK, Secret, redact
from tests.conftest import REPO
from tests.support.hypothesis_policy import PROPERTY
from tests.support.secret_registry import secrets_forgotten_after

# -- deep merge --------------------------------------------------------------------------------

keys = st.text("abcdef", min_size=1, max_size=3)
scalars = st.one_of(st.integers(), st.booleans(), st.text(max_size=5), st.none())
trees = st.recursive(
    scalars | st.lists(scalars, max_size=3),
    lambda children: st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)
configs = st.dictionaries(keys, trees, max_size=5)


def leaves(tree: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every non-dict value by its key path (an empty dict counts as a leaf)."""
    if isinstance(tree, dict) and tree:
        out: dict[tuple[str, ...], Any] = {}
        for key, value in tree.items():
            out.update(leaves(value, (*prefix, key)))
        return out
    return {prefix: tree}


_ABSENT = object()


def lookup(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return _ABSENT
        tree = tree[key]
    return tree


@PROPERTY
@given(configs, configs)
def test_overlay_values_win_and_base_values_survive(
    base: dict[str, Any], over: dict[str, Any]
) -> None:
    merged = deep_merge(base, over)
    for path, value in leaves(over).items():
        if value != {}:
            assert lookup(merged, path) == value
    for path, value in leaves(base).items():
        # a base value survives unless the overlay puts something else at that path or at a
        # prefix of it (only a dict over a dict merges)
        replaced = any(
            (found := lookup(over, path[:i])) is not _ABSENT
            and (i == len(path) or not isinstance(found, dict))
            for i in range(1, len(path) + 1)
        )
        if path and value != {} and not replaced:
            assert lookup(merged, path) == value


@PROPERTY
@given(configs, configs)
def test_merge_leaves_its_inputs_alone(base: dict[str, Any], over: dict[str, Any]) -> None:
    before = (json.dumps(base, sort_keys=True), json.dumps(over, sort_keys=True))
    deep_merge(base, over)
    assert (json.dumps(base, sort_keys=True), json.dumps(over, sort_keys=True)) == before


@PROPERTY
@given(configs, configs)
def test_applying_the_same_layer_twice_changes_nothing(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    once = deep_merge(a, b)
    assert deep_merge(once, b) == once


@PROPERTY
@given(configs)
def test_empty_layers_change_nothing(a: dict[str, Any]) -> None:
    assert deep_merge(a, {}) == a
    assert deep_merge({}, a) == a


def test_merge_records_which_layer_set_each_key() -> None:
    origin: dict[tuple[str | int, ...], str] = {}
    merged = deep_merge(
        {}, {"image": {"repository": "a", "context": "app"}}, origin=origin, source="base"
    )
    deep_merge(merged, {"image": {"repository": "b"}}, origin=origin, source="env")
    assert origin[("image", "repository")] == "env"
    assert origin[("image", "context")] == "base"


# -- loading and validation --------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "deploy" / "environments").mkdir(parents=True)
    (tmp_path / "deploy" / "shipyard.toml").write_text(
        '[image]\nrepository = "base-repo"\ncontext = "app"\n\n[aws]\nregion = "ap-northeast-2"\n'
    )
    (tmp_path / "deploy" / "environments" / "local.toml").write_text(
        '[registry]\nkind = "oci"\nurl = "127.0.0.1:5000"\n'
    )
    return tmp_path


def write_env(root: Path, text: str, name: str = "local") -> None:
    (root / "deploy" / "environments" / f"{name}.toml").write_text(text)


def error_of(root: Path, env: str = "local", **kw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(env, root=root, environ={}, **kw)
    assert info.value.exit_code == 2
    assert "\n" not in info.value.one_line()
    return info.value


def test_every_shipped_environment_loads() -> None:
    for env in ("local", "staging", "production"):
        cfg = load_config(env, root=REPO, environ={})
        assert cfg.environment == env
        assert cfg.aws.region == "ap-northeast-2"
        assert cfg.image.repository == "gamepulse"


def test_environment_file_is_merged_over_the_base(root: Path) -> None:
    write_env(root, '[image]\ncontext = "service"\n')
    cfg = load_config("local", root=root, environ={})
    assert cfg.image.context == "service"  # from the environment file
    assert cfg.image.repository == "base-repo"  # kept from the base file
    assert cfg.image.dockerfile == "Dockerfile"  # model default


def test_unknown_key_names_file_path_and_the_allowed_keys(root: Path) -> None:
    write_env(root, '[image]\ncolour = "red"\n')
    message = error_of(root).one_line()
    assert message.startswith("deploy/environments/local.toml: image.colour: unknown key")
    assert "allowed here: build_args, cache_from_previous, context, dockerfile" in message


def test_unknown_key_in_the_base_file_names_the_base_file(root: Path) -> None:
    (root / "deploy" / "shipyard.toml").write_text(
        '[image.tags]\ntemplates = ["{version}"]\nx = 1\n'
    )
    message = error_of(root).one_line()
    assert message.startswith("deploy/shipyard.toml: image.tags.x: unknown key; allowed here:")
    assert "latest, templates" in message


def test_unknown_top_level_section(root: Path) -> None:
    write_env(root, "[imagez]\nrepository = 'x'\n")
    message = error_of(root).one_line()
    assert "deploy/environments/local.toml: imagez: unknown key" in message
    assert "image," in message
    assert "registry," in message


def test_wrong_type_says_what_is_expected_and_what_was_given(root: Path) -> None:
    write_env(root, '[verify]\nretries = "many"\n')
    message = error_of(root).one_line()
    assert message.startswith("deploy/environments/local.toml: verify.retries: ")
    assert "valid integer" in message
    assert "'many'" in message


def test_wrong_type_inside_a_list(root: Path) -> None:
    write_env(root, "[verify]\nchecks = [{ path = '/health', status = 'ok' }]\n")
    message = error_of(root).one_line()
    assert "verify.checks.0.status" in message
    assert "integer" in message


def test_missing_required_value_names_the_key(root: Path) -> None:
    write_env(root, '[target]\nkind = "ecs"\nservices = [{ name = "web" }]\n')
    message = error_of(root).one_line()
    assert message == "deploy/environments/local.toml: target.cluster: required value is missing"


def test_a_secret_written_in_plain_text_is_refused(root: Path) -> None:
    write_env(root, '[registry]\nkind = "oci"\nusername = "u"\npassword = "hunter2-plain"\n')
    message = error_of(root).one_line()
    assert "registry.password" in message
    assert "hunter2-plain" not in message  # the would-be secret is not echoed back


def test_a_secret_reference_needs_exactly_one_source(root: Path) -> None:
    write_env(root, '[registry]\nkind = "oci"\npassword = { env = "A", file = "b" }\n')
    assert "exactly one of env, ssm, secretsmanager, file" in error_of(root).one_line()


def test_invalid_toml_names_the_file(root: Path) -> None:
    write_env(root, "[image\n")
    assert error_of(root).one_line().startswith("deploy/environments/local.toml: not valid TOML")


@pytest.mark.parametrize("name", ["local", None])
def test_a_file_that_is_not_utf8_names_the_file_and_the_byte(root: Path, name: str | None) -> None:
    # TOML is UTF-8: a file saved as Latin-1 (caf\xe9) was an "unexpected UnicodeDecodeError"
    write_env(root, "")
    damaged = (
        root / "deploy" / "environments" / "local.toml" if name else root / "deploy/shipyard.toml"
    )
    damaged.write_bytes(damaged.read_bytes() + b"# caf\xe9\n")
    message = error_of(root).one_line()
    shown = "deploy/environments/local.toml" if name else "deploy/shipyard.toml"
    assert message.startswith(f"{shown}: not valid TOML: not UTF-8 text (byte 0xe9 at offset ")


def test_unknown_environment_lists_the_known_ones(root: Path) -> None:
    write_env(root, "", name="staging")
    with pytest.raises(UsageError) as info:
        load_config("prod", root=root, environ={})
    assert info.value.exit_code == 2
    assert "unknown environment 'prod'" in info.value.one_line()
    assert "local, staging" in info.value.one_line()


# -- precedence: flag > environment variable > environment file > base file > default ---------


def test_defaults_name_no_service_the_shipped_config_does(root: Path) -> None:
    shipped = load_config("local", root=REPO, environ={})
    assert (shipped.project.name, shipped.image.repository) == ("gamepulse", "gamepulse")
    assert shipped.taskdef.container == "gamepulse"
    (root / "deploy" / "shipyard.toml").write_text("")
    cfg = load_config("local", root=root, environ={})
    assert cfg.aws.region == "ap-northeast-2"
    assert (cfg.project.name, cfg.image.repository, cfg.taskdef.container) == ("app",) * 3
    assert cfg.aws.account_id is None  # detected through STS when needed


def test_environment_variables_beat_the_files(root: Path) -> None:
    write_env(root, '[image]\nrepository = "env-file-repo"\n[aws]\nregion = "us-east-1"\n')
    environ = {
        "ECR_REPOSITORY": "from-env",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCOUNT_ID": "123456789012",
    }
    cfg = load_config("local", root=root, environ=environ)
    assert cfg.image.repository == "from-env"
    assert cfg.aws.region == "eu-west-1"
    assert cfg.aws.account_id == "123456789012"


def test_an_explicit_flag_beats_the_environment_variable(root: Path) -> None:
    environ = {"ECR_REPOSITORY": "from-env", "AWS_REGION": "eu-west-1"}
    cfg = load_config(
        "local",
        root=root,
        environ=environ,
        overrides={"image.repository": "from-flag", "aws.region": "us-west-2"},
    )
    assert cfg.image.repository == "from-flag"
    assert cfg.aws.region == "us-west-2"


def test_an_unset_flag_lets_the_lower_layers_through(root: Path) -> None:
    cfg = load_config(
        "local",
        root=root,
        environ={"ECR_REPOSITORY": "from-env"},
        overrides={"image.repository": None},
    )
    assert cfg.image.repository == "from-env"


def test_a_bad_environment_variable_is_blamed_on_the_variable(root: Path) -> None:
    message = error_of_env(root, {"AWS_ACCOUNT_ID": "not-an-account"})
    assert message.startswith("environment variable: aws.account_id:")


def error_of_env(root: Path, environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_config("local", root=root, environ=environ)
    return info.value.one_line()


def test_a_bad_flag_is_blamed_on_the_flag(root: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config("local", root=root, environ={}, overrides={"image.repository": "Bad Name"})
    assert info.value.one_line().startswith("command-line flag: image.repository:")


# -- secrets -----------------------------------------------------------------------------------


def test_a_secret_never_prints_its_value() -> None:
    secret = Secret("s3cr3t-value-for-test", "env:REGISTRY_PASSWORD")
    shown = [str(secret), repr(secret), f"{secret}", f"{secret!s}", "%s" % secret]  # noqa: UP031 - the %-operator is one way it must hide
    assert all("s3cr3t-value-for-test" not in text for text in shown)
    assert repr(secret) == "Secret(env:REGISTRY_PASSWORD)"
    assert secret.reveal() == "s3cr3t-value-for-test"


def test_a_leaked_secret_is_masked_in_console_errors_and_plans() -> None:
    Secret("leaky-value-1234")
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err)
    console.line("token leaky-value-1234 in a line")
    console.error("stderr said leaky-value-1234")
    console.table(["a"], [["leaky-value-1234"]])
    console.json({"k": "leaky-value-1234"})
    plan = Plan("p")
    plan.add("login", "x", ["tool", "--password", "leaky-value-1234"])
    plan.show(console)
    error = ShipyardError("failed with leaky-value-1234", hint="retry leaky-value-1234")
    text = out.getvalue() + err.getvalue() + error.one_line()
    assert "leaky-value-1234" not in text
    assert text.count(MASK) >= 7


@PROPERTY
@given(st.text(min_size=4, max_size=30).filter(lambda s: s.strip() == s and "*" not in s))
def test_redact_removes_every_registered_value(value: str) -> None:
    # random values must not stay registered: they would mask ordinary words in other tests
    with secrets_forgotten_after():
        Secret(value)
        assert value not in redact(f"before {value} after {value}")
