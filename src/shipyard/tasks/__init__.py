"""The Invoke namespace: every public module here contributes its tasks at the top level
(`inv build`, `inv release`, ...). Only invoke is imported at this point, so `inv --list` stays
fast; each task imports what it needs when it runs."""

from __future__ import annotations

import importlib
import pkgutil

from invoke.collection import Collection
from invoke.tasks import Task


def _build_namespace() -> Collection:
    ns = Collection()
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Task) and value.name not in ns.tasks:
                ns.add_task(value)
    ns.configure({"run": {"echo": False}})
    return ns


namespace = _build_namespace()
