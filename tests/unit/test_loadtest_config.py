"""[loadtest]: defaults, validation with one line naming the key, durations as k6 writes them,
a description on every key, the k6 argv config produces, and where `inv release` puts the
step (after verify, before cleanup) only when after_deploy asks for it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from shipyard.adapters import k6
from shipyard.config import load_config
from shipyard.config.loadtest import LoadtestConfig, LoadtestThresholds, parse_duration
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import ConfigError, UsageError
from shipyard.pipelines.release import ReleaseOptions, _order
from shipyard.pipelines.release_stages import standard_steps
from shipyard.rollout import loadcheck as loadtest
from tests.conftest import REPO


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "deploy" / "environments").mkdir(parents=True)
    (tmp_path / "deploy" / "loadtest").mkdir()
    (tmp_path / "deploy" / "loadtest" / "sample-app.js").write_text(
        (REPO / "deploy" / "loadtest" / "sample-app.js").read_text()
    )
    (tmp_path / "deploy" / "shipyard.toml").write_text("")
    (tmp_path / "deploy" / "environments" / "local.toml").write_text("")
    return tmp_path


def env_file(root: Path, text: str, name: str = "local") -> None:
    (root / "deploy" / "environments" / f"{name}.toml").write_text(text)


def context(root: Path, name: str = "local") -> Context:
    return Context(config=load_config(name, root=root, environ={}), root=root, console=Console())


def test_the_defaults_leave_releases_alone(root: Path) -> None:
    cfg = load_config("local", root=root, environ={}).loadtest
    assert cfg.after_deploy is False
    assert (cfg.vus, cfg.duration, cfg.seconds) == (10, "30s", 30.0)
    assert cfg.thresholds == LoadtestThresholds(http_req_failed=0.01, http_req_duration_p95_ms=500)
    assert cfg.script == "deploy/loadtest/sample-app.js"
    assert (REPO / cfg.script).is_file()


def test_every_key_says_what_it_means() -> None:
    for model in (LoadtestConfig, LoadtestThresholds):
        fields = dataclasses.fields(model)
        undescribed = [f.name for f in fields if not f.metadata.get("description")]
        assert undescribed == [], f"{model.__name__}: keys without a description"


def test_a_full_section_loads(root: Path) -> None:
    env_file(
        root,
        '[loadtest]\nvus = 3\nduration = "1m30s"\nafter_deploy = true\n'
        "[loadtest.thresholds]\nhttp_req_failed = 0\nhttp_req_duration_p95_ms = 250\n",
    )
    cfg = load_config("local", root=root, environ={}).loadtest
    assert (cfg.vus, cfg.seconds, cfg.after_deploy) == (3, 90.0, True)
    assert cfg.thresholds.http_req_failed == 0.0  # an int where a float is expected is fine
    assert cfg.thresholds.http_req_duration_p95_ms == 250


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ("[loadtest]\nvus = 0", "loadtest.vus"),
        ('[loadtest]\nvus = "10"', "loadtest.vus"),  # strict: a string is not a number
        ('[loadtest]\nduration = "soon"', "loadtest.duration"),
        ('[loadtest]\nduration = "0s"', "loadtest.duration"),
        ("[loadtest]\nduration = 30", "loadtest.duration"),
        ('[loadtest]\nafter_deploy = "yes"', "loadtest.after_deploy"),
        ("[loadtest]\nrps = 100", "rps"),
        ("[loadtest.thresholds]\nhttp_req_failed = 1.5", "loadtest.thresholds.http_req_failed"),
        ("[loadtest.thresholds]\nhttp_req_duration_p95_ms = 0", "http_req_duration_p95_ms"),
        ('[loadtest]\nk6 = "k6 --evil"', "loadtest.k6"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(root: Path, toml: str, named: str) -> None:
    env_file(root, toml)
    with pytest.raises(ConfigError) as caught:
        load_config("local", root=root, environ={})
    assert named in caught.value.one_line()
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0), ("1.5s", 1.5), ("1m", 60.0)],
)
def test_durations_read_as_k6_reads_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "abc", "0s", "-5s", "30 s", "5x", "s", "1m 30s"])
def test_what_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|no time"):
        parse_duration(text)


def test_config_drives_the_argv_and_flags_override_it(root: Path) -> None:
    env_file(
        root,
        '[loadtest]\nvus = 4\nduration = "20s"\n'
        "[loadtest.thresholds]\nhttp_req_failed = 0.05\nhttp_req_duration_p95_ms = 250\n",
    )
    ctx = context(root)
    run = loadtest.k6_run(ctx, loadtest.LoadOptions("http://127.0.0.1:9/"), need_binary=False)
    assert run.command.argv[1:] == (
        *("run", "--quiet", "--no-usage-report", "--address", "", "--vus", "4"),
        *("--duration", "20s", "--summary-trend-stats", loadtest.TREND_STATS),
        *("--summary-export", "reports/loadtest-local.json", "-e", "BASE_URL=http://127.0.0.1:9"),
        *("-e", "MAX_FAILED_RATE=0.05", "-e", "MAX_P95_MS=250", "deploy/loadtest/sample-app.js"),
    )
    assert run.command.env == k6.PASSED_THROUGH
    flagged = loadtest.k6_run(
        ctx, loadtest.LoadOptions("http://h", vus=2, duration="3s"), need_binary=False
    )
    assert (flagged.vus, flagged.duration, flagged.seconds) == (2, "3s", 3.0)


@pytest.mark.parametrize(
    ("opts", "says"),
    [
        (loadtest.LoadOptions("http://h", duration="soon"), "--duration"),
        (loadtest.LoadOptions("http://h", vus=0), "at least 1"),
        (loadtest.LoadOptions("ftp://h"), "not an http"),
    ],
)
def test_bad_input_is_refused_with_exit_2(
    root: Path, opts: loadtest.LoadOptions, says: str
) -> None:
    with pytest.raises(UsageError, match=says) as caught:
        loadtest.k6_run(context(root), opts, need_binary=False)
    assert caught.value.exit_code == 2


def test_a_missing_script_or_binary_is_refused_with_how_to_fix_it(root: Path) -> None:
    env_file(root, '[loadtest]\nk6 = "/nonexistent/k6"')
    with pytest.raises(UsageError) as caught:
        loadtest.preflight(context(root))
    assert "k6 is not installed" in caught.value.one_line()
    assert loadtest.K6_REQUIREMENT in caught.value.one_line()
    env_file(root, '[loadtest]\nscript = "deploy/loadtest/missing.js"')
    with pytest.raises(ConfigError, match=r"loadtest\.script"):
        loadtest.preflight(context(root))


def test_the_release_step_follows_verify_only_when_asked(root: Path) -> None:
    plain = _order(ReleaseOptions(extra_steps=standard_steps(context(root))))
    assert "loadtest" not in plain
    env_file(root, "[loadtest]\nafter_deploy = true")
    order = _order(ReleaseOptions(extra_steps=standard_steps(context(root))))
    assert order[order.index("verify") + 1] == "loadtest"


def test_on_ecr_the_load_check_comes_before_cleanup(root: Path) -> None:
    env_file(root, '[registry]\nkind = "ecr"\n[loadtest]\nafter_deploy = true\n', "staging")
    order = _order(ReleaseOptions(extra_steps=standard_steps(context(root, "staging"))))
    assert order[order.index("verify") :][:3] == ["verify", "loadtest", "cleanup"]


def test_a_release_that_could_not_load_test_is_refused_before_it_starts(root: Path) -> None:
    env_file(root, '[loadtest]\nafter_deploy = true\nk6 = "/nonexistent/k6"')
    with pytest.raises(UsageError, match="k6 is not installed"):
        standard_steps(context(root))
