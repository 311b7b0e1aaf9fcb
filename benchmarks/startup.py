"""Start-up: read-only commands against the bare cost of a Python process importing Invoke.

`inv --list` (target <= 1.2x), `inv version` and `inv status --env local` (<= 1.3x) each
alternate with `python -c "import invoke"`, in a throwaway copy of the sample with nothing
deployed locally.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks._harness import INV, Row, alternate, project, row, run

BARE = [sys.executable, "-c", "import invoke"]
MEASURES = [
    ("start-up: list tasks", ["--list"], 1.2),
    ("start-up: version", ["version"], 1.3),
    ("start-up: local status", ["status", "--env", "local"], 1.3),
]


def rows() -> list[Row]:
    found: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        path, env = project(Path(tmp))
        for measure, args, target in MEASURES:
            ours = [INV, *args]
            for argv in (ours, BARE):  # warm the file cache and any config cache
                run(argv, path, env)
            samples = alternate(
                lambda _i, a=ours: run(a, path, env), lambda _i: run(BARE, path, env)
            )
            found.append(
                row(
                    measure, ("inv " + " ".join(args), 'python -c "import invoke"'), samples, target
                )
            )
    return found
