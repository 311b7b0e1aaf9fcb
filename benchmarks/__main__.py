"""python -m benchmarks [NAME ...]: run all benchmark modules, or the named ones."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def load(name: str) -> Callable[[], int] | None:
    module = importlib.import_module(f"benchmarks.{name}")
    entry = getattr(module, "main", None)
    return entry if callable(entry) else None


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"error: no benchmark named {', '.join(unknown)} (have: {', '.join(available())})")
        return 2
    failed: list[str] = []
    for name in names:
        entry = load(name)
        if entry is None:
            continue
        print(f"== benchmark {name}", flush=True)
        code = entry()
        if code != 0:
            failed.append(name)
    if failed:
        print(f"targets missed in: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
