"""Load one environment's configuration.

Layers, lowest first: model defaults < deploy/shipyard.toml < deploy/environments/<env>.toml
< environment variables (ENV_VAR_OVERRIDES) < explicit flags. An explicit flag always wins;
an environment variable never silently beats it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.config.cache import validated
from shipyard.config.merge import Path_, deep_merge, set_path
from shipyard.config.model import ShipyardConfig
from shipyard.errors import ConfigError, UsageError

BASE_FILE = Path("deploy/shipyard.toml")
ENV_DIR = Path("deploy/environments")

# The environment variables a CI job usually sets, and the config key each one sets.
ENV_VAR_OVERRIDES: dict[str, str] = {
    "AWS_REGION": "aws.region",
    "AWS_ACCOUNT_ID": "aws.account_id",
    "ECR_REPOSITORY": "image.repository",
}


def find_root(start: Path | None = None) -> Path:
    """The project root: $SHIPYARD_ROOT, or the nearest directory upwards holding
    deploy/shipyard.toml."""
    explicit = os.environ.get("SHIPYARD_ROOT")
    if explicit:
        root = Path(explicit).resolve()
        if not (root / BASE_FILE).is_file():
            raise ConfigError(
                f"SHIPYARD_ROOT={explicit} has no {BASE_FILE}",
                hint="point SHIPYARD_ROOT at the project checkout",
            )
        return root
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / BASE_FILE).is_file():
            return candidate
    raise ConfigError(
        f"no {BASE_FILE} found in {here} or any parent directory",
        hint="run shipyard from the project checkout or set SHIPYARD_ROOT",
    )


def known_environments(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / ENV_DIR).glob("*.toml"))


def read_toml(path: Path, root: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{_rel(path, root)}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{_rel(path, root)}: cannot read: {exc.strerror}") from exc


def load_config(
    environment: str,
    *,
    root: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ShipyardConfig:
    """Load, merge and validate the configuration of `environment`.

    `overrides` maps dotted key paths to values from explicit flags; None values are ignored
    so callers can pass every optional flag straight through.
    """
    root = root or find_root()
    environ = os.environ if environ is None else environ
    envs = known_environments(root)
    if environment not in envs:
        raise UsageError(
            f"unknown environment {environment!r}",
            hint=f"choose one of: {', '.join(envs) or '(none)'}; each is a file in {ENV_DIR}/",
        )
    base_path = root / BASE_FILE
    env_path = root / ENV_DIR / f"{environment}.toml"
    origin: dict[Path_, str] = {}
    merged = deep_merge({}, read_toml(base_path, root), origin=origin, source=str(BASE_FILE))
    env_rel = str(env_path.relative_to(root))
    merged = deep_merge(merged, read_toml(env_path, root), origin=origin, source=env_rel)

    layered: dict[str, Any] = {}
    for var, key in ENV_VAR_OVERRIDES.items():
        value = environ.get(var)
        if value:
            set_path(layered, key, value)
    merged = deep_merge(merged, layered, origin=origin, source="environment variable")
    flags: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if value is not None:
            set_path(flags, key, value)
    merged = deep_merge(merged, flags, origin=origin, source="command-line flag")
    merged["environment"] = environment

    files = f"{env_rel} (or {BASE_FILE})"  # where a value no layer set is missing from

    def on_a_miss(data: Mapping[str, Any]) -> ShipyardConfig:
        # imported here: the validator imports pydantic, which a cache hit never needs
        from shipyard.config import validate

        return validate.config(dict(data), origin, files)

    return validated(merged, on_a_miss, environ)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
