"""Mutation testing of the safety rules (nox -s mutants; issue 13).

mutmut 3 (pyproject.toml [tool.mutmut]) mutates the safety-critical modules one change at a
time and runs, for each mutant, only the fast tests (unit, Stubber, moto: no Docker containers)
that call the mutated function; a mutant the tests do not notice "survives". This script:

1. copies the checkout (without .git, .venv and caches) into .nox/mutants/work, so the run
   measures one snapshot while the checkout goes on changing, and leaves no mutants/ directory
   in the checkout;
2. runs `mutmut run` there (its progress goes to .nox/mutants/mutmut.log);
3. prints one table per module: mutants, killed, survived, no tests (no fast test calls the
   mutated function: a survivor too), timeout, kill rate; then every survivor with
   file:line and the mutation (the line before and after);
4. writes the figures to reports/mutants.json.

    python tools/mutants.py                  # a fresh run of every module
    python tools/mutants.py --keep           # reuse the last run's results (only what changed,
                                             # and new tests, are run again)
    python tools/mutants.py --keep 'shipyard.history.*'   # run these mutants again
    python tools/mutants.py --survivors      # run the last run's survivors again
    python tools/mutants.py --report         # print the last run's figures, run nothing
    python tools/mutants.py --named [ITEM..] # issue 13's behaviours, each as one mutation
                                             # against the test named for it (minutes)

The kill rate counts timeouts as killed (the mutant made a test hang, which the test layer
reports as a failure) and "no tests" as survived. What is not mutated: string literals holding
whitespace (words for people: messages, hints, table and plan lines; see LAUNCH in
mutants_run.py), and the lines pyproject's do_not_mutate_patterns name (progress lines,
dry-run plan steps).

This script parses the arguments and runs the steps; they live next to it: mutants_config.py
(paths, pyproject's settings), mutants_run.py (snapshot, clean pass, mutmut), mutants_report.py
(results, tables, reports/mutants.json) and mutants_named.py (--named).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from mutants_config import LOG, config
from mutants_named import named
from mutants_report import results, survivors, table, write_report
from mutants_run import SELECTION, carry_verdicts, clean_pass, run_mutmut, snapshot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutant names or globs to run again")
    parser.add_argument("--keep", action="store_true", help="reuse the last run's results")
    parser.add_argument("--report", action="store_true", help="only print the last figures")
    parser.add_argument(
        "--survivors", action="store_true", help="run the last run's survivors again (--keep)"
    )
    parser.add_argument(
        "--named",
        nargs="*",
        metavar="ITEM",
        help="only the issue-13 behaviours as named mutations, each against its test",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="mutants at once")
    args = parser.parse_args(argv)
    if args.named is not None:
        return named(args.named)
    cfg = config()
    started = time.monotonic()
    code = 0
    names = list(args.names)
    if args.survivors:
        names += [m.name for m in results(cfg) if m.status not in ("killed", "timeout", "skipped")]
        if not names:
            print("no survivors to run again")
            return 0
    deselected: list[str] = []
    if not args.report:
        snapshot(keep=args.keep or bool(names))
        if args.keep or names:
            carry_verdicts(cfg)
        deselected = clean_pass(cfg, args.jobs)
        for test in deselected:
            print(f"deselected, failing before any mutation: {test}")
        code = run_mutmut(names, args.jobs)
        SELECTION.write_text(json.dumps(cfg.get("pytest_add_cli_args_test_selection", [])))
    wall = time.monotonic() - started
    found = results(cfg)
    if not found:
        print(f"no results: mutmut exited {code}; see {LOG}", file=sys.stderr)
        print(LOG.read_text()[-3000:] if LOG.is_file() else "", file=sys.stderr)
        return code or 1
    text, figures = table(found, cfg)
    if code:
        print(f"mutmut exited {code}: the figures are incomplete (see {LOG})")
    print(text)
    print()
    listed = survivors(found)
    print(listed or "no survivors")
    print()
    if not args.report:
        print(f"wall time {wall / 60:.1f} min ({args.jobs} at once); mutmut log: {LOG}")
    write_report(figures, None if args.report else round(wall), deselected, found)
    return code


if __name__ == "__main__":
    sys.exit(main())
