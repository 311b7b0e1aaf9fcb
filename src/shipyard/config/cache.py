"""Validated configurations kept between runs, keyed by everything validation reads.

pydantic builds a validator the first time it validates (about 90 ms for the config sections),
after its own import (about 25 ms), and every `inv` process used to pay that before doing
anything. Validation is pure: its input (the two files' bytes, the environment variables and
flags layered over them) decides the result. So a configuration that validated once is stored
under the hash of that input and of the code that validated it, and the next run with the same
input loads it in about 2 ms: it parses no TOML, and the sections are plain dataclasses, so
reading one back never imports pydantic.

What is stored holds no secret: config files carry references to secrets, never their values
(SecretRef). Entries live in $XDG_CACHE_HOME/shipyard/config (default ~/.cache/...), a 0700
directory; an entry is read only when this user owns it and nobody else may write it, and any
entry that cannot be read back as a configuration is a miss. SHIPYARD_CONFIG_CACHE=off turns the
cache off. Only successes are stored: an invalid configuration is validated, and its error
worded, on every run.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import shipyard
from shipyard.config.model import ShipyardConfig

KEPT_ENTRIES = 64  # one per distinct input; the oldest go first


def cache_dir(environ: Mapping[str, str]) -> Path | None:
    if environ.get("SHIPYARD_CONFIG_CACHE", "").lower() in {"off", "0", "false", "no"}:
        return None
    base = environ.get("XDG_CACHE_HOME") or (
        str(Path(environ["HOME"]) / ".cache") if environ.get("HOME") else ""
    )
    return Path(base) / "shipyard" / "config" if base else None


# What validates besides shipyard.config: pydantic and its compiled core.
VALIDATORS = ("pydantic", "pydantic_core")


def _code_fingerprint() -> str:
    """Which code validated: shipyard's version, the config modules as they are on disk (an
    edited section in a checkout is a new key, even at the same version), Python's version and
    the installed pydantic (`_installed`)."""
    stats = []
    for path in sorted(Path(__file__).parent.glob("*.py")):
        st = path.stat()
        stats.append((path.name, st.st_mtime_ns, st.st_size))
    validators = [_installed(name) for name in VALIDATORS]
    return json.dumps([shipyard.__version__, sys.version, stats, validators])


def _installed(package: str) -> list[Any]:
    """An installed package as found without importing it (a hit must not pay for pydantic's
    import): its dist-info directories (their names carry the version) and its directory's
    identity and mtime (an install replaces the directory, even at the same version)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return [package, None]
    directory = Path(next(iter(spec.submodule_search_locations)))
    st = directory.stat()
    prefix = f"{package}-"  # dist-info names spell the package with "_": pydantic_core-2.5...
    dists = sorted(
        name
        for name in _entries(directory.parent)
        if name.startswith(prefix) and name.endswith(".dist-info")
    )
    return [package, str(directory), st.st_ino, st.st_mtime_ns, dists]


@functools.cache
def _entries(directory: Path) -> tuple[str, ...]:
    """A site-packages directory's entries, read once a process: both validators live in one,
    and a command that loads several environments' configurations keys each of them."""
    return tuple(os.listdir(directory))


def key_of(inputs: Sequence[bytes | str]) -> str:
    """The entry's name: a hash of the inputs (each length-prefixed, so no two sequences run
    together) and of the code that validates them."""
    digest = hashlib.sha256()
    for part in (*inputs, _code_fingerprint()):
        data = part if isinstance(part, bytes) else part.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def validated(
    inputs: Sequence[bytes | str],
    validate: Callable[[], ShipyardConfig],
    environ: Mapping[str, str],
) -> ShipyardConfig:
    """`validate()`, or what it returned for the same inputs before. `inputs` must be all it
    reads (the files' bytes, the layers over them)."""
    directory = cache_dir(environ)
    if directory is None:
        return validate()
    entry = directory / f"{key_of(inputs)}.pickle"
    kept = _read(entry)
    if kept is not None:
        return kept
    config = validate()
    _write(directory, entry, config)
    return config


def _private(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(entry: Path) -> ShipyardConfig | None:
    try:
        fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            if not (_private(os.fstat(fh.fileno())) and _private(entry.parent.stat())):
                return None
            loaded = pickle.load(fh)  # noqa: S301 - this user's own 0700 directory, checked above
    except Exception:  # a torn, stale or foreign entry is only a miss
        return None
    return loaded if isinstance(loaded, ShipyardConfig) else None


def _write(directory: Path, entry: Path, config: ShipyardConfig) -> None:
    """Store the entry (a failure only costs the next run the validation), then keep the
    newest KEPT_ENTRIES."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(directory.stat()):
            return
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".entry.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(config, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, entry)
        finally:
            Path(tmp).unlink(missing_ok=True)
        entries = sorted(directory.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns)
        for old in entries[:-KEPT_ENTRIES]:
            old.unlink(missing_ok=True)
    except OSError:
        return
