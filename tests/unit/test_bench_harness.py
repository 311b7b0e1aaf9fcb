"""The benchmark runner's verdicts: a module that cannot run is named and the other modules'
rows are still tabled and written; the ECS deploy's calls target accepts extra calls only
when each buys a named feature."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import benchmarks.__main__ as runner
import pytest
from benchmarks._harness import Row, Sample, row
from benchmarks.ecs_deploy import call_notes, calls_accounted


@pytest.fixture(autouse=True)
def _no_job_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def _met_row() -> list[Row]:
    return [row("fast thing", ("inv x", "raw x"), (Sample([1.0]), Sample([2.0])), 1.0)]


def _broken() -> list[Row]:
    raise RuntimeError("inv push exited 1: registry gone")


def test_a_module_that_crashes_is_named_and_the_others_rows_are_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    modules: dict[str, Callable[[], list[Row]]] = {"a_broken": _broken, "b_fine": _met_row}
    monkeypatch.setattr(runner, "available", lambda: sorted(modules))
    monkeypatch.setattr(runner, "load", lambda name: (modules[name], None))
    out = tmp_path / "bench.json"

    code = runner.main([], out=out)

    printed = capsys.readouterr().out
    assert code == 1
    assert "benchmark a_broken could not run: RuntimeError: inv push exited 1" in printed
    assert "targets missed: a_broken (could not run)" in printed
    assert "fast thing" in printed
    written = json.loads(out.read_text())
    assert [r["measure"] for r in written["rows"]] == ["fast thing"]
    assert written["rows"][0]["met"] is True


def test_a_module_reporting_its_own_miss_is_listed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "available", lambda: ["own"])
    monkeypatch.setattr(runner, "load", lambda _name: (None, lambda: 1))

    assert runner.main(["own"], out=tmp_path / "bench.json") == 1
    assert "targets missed: own" in capsys.readouterr().out


def test_extra_calls_count_only_when_each_buys_a_named_feature() -> None:
    theirs = Counter({"DescribeServices": 3, "DescribeTaskDefinition": 1})
    named = Counter({"DescribeServices": 3, "PutItem": 1, "DeleteItem": 1, "PutMetricData": 1})
    unnamed = named + Counter({"DescribeServices": 2, "GetParameters": 1})

    assert calls_accounted(named, theirs)
    assert not calls_accounted(unnamed, theirs)
    assert "+1 GetParameters (?)" in call_notes(unnamed, theirs)
    assert "+2 DescribeServices (?)" in call_notes(unnamed, theirs)
    assert "+1 PutItem (deploy lock)" in call_notes(named, theirs)
