"""python -m benchmarks [NAME ...]: run every benchmark module (or the named ones), print one
table of all their measures and write it to reports/bench.json. Exit 1 when a target is missed
on the median."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks._harness import Row, report


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def load(name: str) -> tuple[Callable[[], list[Row]] | None, Callable[[], int] | None]:
    """The module's `rows()` (measures for the table) or, failing that, its `main()` (a
    benchmark that prints its own figures and returns 1 on a missed target)."""
    module = importlib.import_module(f"benchmarks.{name}")
    rows, main = getattr(module, "rows", None), getattr(module, "main", None)
    return (rows if callable(rows) else None, main if callable(main) else None)


def measure(name: str, rows: list[Row]) -> bool:
    """Run one module: its measures join `rows`; False when it reports a missed target."""
    measures, own_report = load(name)
    if measures is not None:
        rows.extend(measures())
        return True
    return own_report is None or own_report() == 0


def main(argv: list[str], out: Path | None = None) -> int:
    names = argv or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"error: no benchmark named {', '.join(unknown)} (have: {', '.join(available())})")
        return 2
    rows: list[Row] = []
    missed: list[str] = []
    for name in names:
        print(f"== benchmark {name}", flush=True)
        try:
            if not measure(name, rows):
                missed.append(name)
        except Exception as exc:  # one module's failure must not lose the others' rows
            print(f"benchmark {name} could not run: {type(exc).__name__}: {exc}", flush=True)
            missed.append(f"{name} (could not run)")
    report(rows, *([out] if out else []))
    missed += [r.measure for r in rows if not r.met]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
