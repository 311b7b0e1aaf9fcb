"""Shared measuring: alternating rounds of two commands, medians and spreads, one table.

Every measure runs two callables (shipyard's command and its baseline) in alternating order
round after round (A B, B A, ...) so neither always runs on a warmer machine; the verdict is on
the ratio of the medians. Rows from all benchmark modules go into one table, printed with
tabulate and written to reports/bench.json (and the GitHub Actions job summary when set).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
INV = str(BIN / "inv")
ROUNDS = int(os.environ.get("SHIPYARD_BENCH_ROUNDS", "7"))


@dataclass
class Row:
    measure: str
    shipyard: str
    baseline: str
    median_s: float
    spread_s: tuple[float, float]
    baseline_median_s: float
    baseline_spread_s: tuple[float, float]
    target: float
    rounds: int
    calls: str = ""
    notes: str = ""
    operations: dict[str, dict[str, int]] = field(default_factory=dict)
    calls_met: bool = True

    @property
    def ratio(self) -> float:
        return self.median_s / self.baseline_median_s

    @property
    def met(self) -> bool:
        return self.ratio <= self.target and self.calls_met


@dataclass
class Sample:
    """Wall seconds of each round, and what each run reported (e.g. AWS calls)."""

    seconds: list[float] = field(default_factory=list)
    extra: list[int] = field(default_factory=list)


def run(argv: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None) -> str:
    proc = subprocess.run(
        argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode}: {(proc.stdout + proc.stderr)[-800:]}"
        )
    return proc.stdout


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    answer = fn()
    return time.perf_counter() - started, answer


def alternate(
    ours: Callable[[int], object], theirs: Callable[[int], object], rounds: int = ROUNDS
) -> tuple[Sample, Sample]:
    """`rounds` of both callables, order swapped every round; an int answer is kept."""
    mine, peer = Sample(), Sample()
    for i in range(rounds):
        pair = [(ours, mine), (theirs, peer)]
        if i % 2:
            pair.reverse()
        for fn, sample in pair:
            seconds, answer = timed(lambda fn=fn, i=i: fn(i))  # type: ignore[misc]
            sample.seconds.append(seconds)
            if isinstance(answer, int):
                sample.extra.append(answer)
    return mine, peer


def spread(values: list[float]) -> tuple[float, float]:
    return (round(min(values), 3), round(max(values), 3))


def row(
    measure: str,
    commands: tuple[str, str],
    samples: tuple[Sample, Sample],
    target: float,
    calls: str = "",
    notes: str = "",
) -> Row:
    mine, peer = samples
    return Row(
        measure=measure,
        shipyard=commands[0],
        baseline=commands[1],
        median_s=round(statistics.median(mine.seconds), 3),
        spread_s=spread(mine.seconds),
        baseline_median_s=round(statistics.median(peer.seconds), 3),
        baseline_spread_s=spread(peer.seconds),
        target=target,
        rounds=len(mine.seconds),
        calls=calls,
        notes=notes,
    )


HEADERS = ["measure", "shipyard (median, min-max)", "baseline (median, min-max)", "ratio",
           "target", "result", "AWS calls", "notes"]  # fmt: skip


def table(rows: list[Row], fmt: str = "simple") -> str:
    from tabulate import tabulate

    cells = [
        [
            f"{r.measure}\n  {r.shipyard}\n  vs {r.baseline}" if fmt == "simple" else
            f"{r.measure}: `{r.shipyard}` vs `{r.baseline}`",
            f"{r.median_s:.3f}s ({r.spread_s[0]:.3f}-{r.spread_s[1]:.3f})",
            f"{r.baseline_median_s:.3f}s "
            f"({r.baseline_spread_s[0]:.3f}-{r.baseline_spread_s[1]:.3f})",
            f"{r.ratio:.2f}x",
            f"<= {r.target}x",
            "met" if r.met else "MISSED",
            r.calls,
            r.notes,
        ]
        for r in rows
    ]  # fmt: skip
    return str(tabulate(cells, headers=HEADERS, tablefmt=fmt))


def report(rows: list[Row], out: Path = ROOT / "reports" / "bench.json") -> None:
    print(table(rows))
    out.parent.mkdir(exist_ok=True)
    document = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "nox -s bench",
        "rows": [{**asdict(r), "ratio": round(r.ratio, 3), "met": r.met} for r in rows],
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write("## Benchmarks\n\n" + table(rows, fmt="github") + "\n")


def project(base: Path) -> tuple[Path, dict[str, str]]:
    """A throwaway git copy of the sample (app, deploy, version.txt, tasks.py) and the
    environment to run `inv` in it: no CI, AWS or SHIPYARD_ variables from the caller."""
    import shutil

    path = base / "project"
    path.mkdir()
    for item in ("app", "deploy"):
        shutil.copytree(ROOT / item, path / item)
    for item in ("version.txt", "tasks.py"):
        shutil.copy(ROOT / item, path / item)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "ECR_", "AWS_", "SHIPYARD_"))
        # a user's interpreter keeps compiled bytecode; without it every run recompiles src/
        and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
    )
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                 ["git", "commit", "-q", "-m", "bench"]):  # fmt: skip
        run(argv, path, env)
    return path, env
