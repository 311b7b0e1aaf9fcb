"""Where a mutation run (tools/mutants.py) keeps its files: the snapshot of the checkout,
mutmut's log, reports/mutants.json; and what pyproject.toml's [tool.mutmut] says to mutate
(config, modules)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / ".nox" / "mutants"
WORK = BASE / "work"
LOG = BASE / "mutmut.log"
REPORT = ROOT / "reports" / "mutants.json"


def config() -> dict[str, Any]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    cfg: dict[str, Any] = data["tool"]["mutmut"]
    return cfg


def modules(cfg: dict[str, Any]) -> list[str]:
    """The mutated files, in the order pyproject lists them."""
    found: list[str] = []
    for pattern in cfg.get("only_mutate", []):
        for path in sorted(ROOT.glob(pattern)):
            rel = str(path.relative_to(ROOT))
            if rel.endswith(".py") and rel not in found:
                found.append(rel)
    return found
