"""What a mutation run found, for tools/mutants.py: every mutant's status read from mutmut's
files (survivors located by file, line and the mutation, the line before and after), the
table per module with its kill rate, the list of survivors, and reports/mutants.json."""

from __future__ import annotations

import ast
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mutants_config import REPORT, ROOT, WORK, modules
from tabulate import tabulate

STATUS = {  # mutmut's exit codes (mutmut.stats.status_by_exit_code), as counted here
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    36: "timeout",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    34: "skipped",
    37: "killed",  # caught by the type checker (not configured here)
}


@dataclass(frozen=True)
class Mutant:
    name: str  # mutmut's name: shipyard.history.xǁHistoryStateǁrollback_target__mutmut_3
    path: str  # src/shipyard/history.py
    status: str
    line: int | None = None
    before: str = ""
    after: str = ""


def results(cfg: dict[str, Any]) -> list[Mutant]:
    """Every mutant of every module with its status, survivors with line and mutation."""
    found: list[Mutant] = []
    for path in modules(cfg):
        meta = WORK / "mutants" / f"{path}.meta"
        if not meta.is_file():
            continue
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in sorted(codes.items(), key=lambda kv: _order(kv[0])):
            status = "not checked" if code is None else STATUS.get(code, "suspicious")
            if status in ("survived", "no tests", "suspicious"):
                found.append(_located(name, path, status))
            else:
                found.append(Mutant(name, path, status))
    return found


def _order(name: str) -> tuple[str, int]:
    head, _, number = name.rpartition("__mutmut_")
    return head, int(number) if number.isdigit() else 0


def _located(name: str, path: str, status: str) -> Mutant:
    """The mutation as the original line and the mutated one, and the line's number."""
    previous = Path.cwd()
    os.chdir(WORK)
    try:
        from mutmut.mutation.diff_apply import get_diff_for_mutant

        diff = get_diff_for_mutant(name, path=path)
    except Exception as exc:  # a mutant whose diff cannot be read is still listed
        return Mutant(name, path, status, None, f"(diff unavailable: {exc})")
    finally:
        os.chdir(previous)
    removed = [
        ln[1:] for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")
    ]
    added = [ln[1:] for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    hunk = re.search(r"^@@ -(\d+)", diff, re.MULTILINE)
    line = _line_of(name, path, removed[0] if removed else "", int(hunk.group(1)) if hunk else 1)
    before, after = _changed(removed, added)
    return Mutant(name, path, status, line, before, after)


def _changed(removed: list[str], added: list[str]) -> tuple[str, str]:
    """The first line the mutation changes, before and after (a removed argument may leave
    no line after), each cut to a readable length."""
    pairs = list(zip(removed, added, strict=False))
    differing = next(((r, a) for r, a in pairs if r.strip() != a.strip()), None)
    if differing is None:
        differing = (removed[len(pairs)] if len(removed) > len(pairs) else "", "")
    return tuple(_cut(x.strip()) for x in differing)  # type: ignore[return-value]


def _cut(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _line_of(name: str, path: str, removed: str, hunk_start: int) -> int | None:
    """The line in the original file that the mutation changes."""
    func, cls = _function_of(name)
    source = (ROOT / path).read_text() if (ROOT / path).is_file() else ""
    work_source = WORK / path
    if work_source.is_file():
        source = work_source.read_text()  # the snapshot mutmut mutated
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.name != func:
            continue
        if cls is not None and not _in_class(source, node, cls):
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        # the diff's text, searched from where the hunk says, within the function
        want = removed.strip()
        around = range(first, (node.end_lineno or first) + 1)
        guess = first + hunk_start - 1
        candidates = [n for n in around if lines[n - 1].strip() == want]
        if candidates:
            return min(candidates, key=lambda n: abs(n - guess))
        return guess
    return None


def _function_of(name: str) -> tuple[str, str | None]:
    mangled = name.partition("__mutmut_")[0].rpartition(".")[-1]
    if "ǁ" in mangled:
        _, cls, func = mangled.split("ǁ")
        return func, cls
    return mangled.removeprefix("x_"), None


def _in_class(source: str, func: ast.AST, cls: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return any(
                isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                and child.lineno == getattr(func, "lineno", -1)
                for child in node.body
            )
    return False


def table(found: list[Mutant], cfg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rows: list[list[Any]] = []
    figures: dict[str, Any] = {}
    total: Counter[str] = Counter()
    for path in modules(cfg):
        counts = Counter(m.status for m in found if m.path == path)
        if not counts:
            continue
        total.update(counts)
        rows.append(_row(path.removeprefix("src/shipyard/"), counts))
        figures[path] = dict(counts)
    rows.append(_row("all", total))
    headers = [
        "module",
        "mutants",
        "killed",
        "survived",
        "no tests",
        "timeout",
        "not run",
        "kill rate",
    ]
    return tabulate(rows, headers=headers, tablefmt="github"), figures


def _row(name: str, counts: Counter[str]) -> list[Any]:
    n = sum(counts.values())
    detected = counts["killed"] + counts["timeout"]
    checked = n - counts["not checked"]
    rate = f"{100 * detected / checked:.1f} %" if checked else "-"
    undetected = counts["survived"] + counts["suspicious"]
    return [
        name,
        n,
        counts["killed"],
        undetected,
        counts["no tests"],
        counts["timeout"],
        counts["not checked"],
        rate,
    ]


def survivors(found: list[Mutant]) -> str:
    out: list[str] = []
    for m in found:
        if m.status in ("killed", "timeout", "skipped", "not checked"):
            continue
        where = f"{m.path}:{m.line}" if m.line else m.path
        out.append(f"{where}  [{m.status}]  {m.name.rpartition('.')[-1]}")
        out.append(f"    - {m.before}")
        out.append(f"    + {m.after}")
    return "\n".join(out)


def write_report(
    figures: dict[str, Any], wall_seconds: int | None, deselected: list[str], found: list[Mutant]
) -> None:
    """reports/mutants.json: the figures per module, the wall time (None when nothing ran),
    the tests the clean pass deselected, and every survivor."""
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {
                "modules": figures,
                "wall_seconds": wall_seconds,
                "deselected": deselected,
                "survivors": [
                    m.__dict__ for m in found if m.status not in ("killed", "timeout", "skipped")
                ],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
