"""Load one environment's configuration.

Layers, lowest first: model defaults < deploy/shipyard.toml < deploy/environments/<env>.toml
< environment variables (ENV_VAR_OVERRIDES) < explicit flags. An explicit flag always wins;
an environment variable never silently beats it.
"""

from __future__ import annotations

import json
import os
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
    return parse_toml(read_bytes(path, root), path, root)


def read_bytes(path: Path, root: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{_rel(path, root)}: cannot read: {exc.strerror}") from exc


def parse_toml(data: bytes, path: Path, root: Path) -> dict[str, Any]:
    import tomllib  # here: a cache hit is keyed on the bytes and never parses them

    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{_rel(path, root)}: not valid TOML: not UTF-8 text "
            f"(byte 0x{data[exc.start]:02x} at offset {exc.start})",
            hint="save the file as UTF-8",
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{_rel(path, root)}: not valid TOML: {exc}") from exc


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
    base, env = read_bytes(base_path, root), read_bytes(env_path, root)
    from_environ = {key: environ[var] for var, key in ENV_VAR_OVERRIDES.items() if environ.get(var)}
    from_flags = {key: value for key, value in (overrides or {}).items() if value is not None}
    layers = json.dumps([from_environ, from_flags], sort_keys=True, default=repr)

    def on_a_miss() -> ShipyardConfig:
        sources = [(base_path, base), (env_path, env)]
        return _merged_and_validated(root, environment, sources, from_environ, from_flags)

    # keyed on what the layers are made of, so that a hit reads no TOML
    return validated((environment, base, env, layers), on_a_miss, environ)


def _merged_and_validated(
    root: Path,
    environment: str,
    sources: list[tuple[Path, bytes]],
    from_environ: Mapping[str, Any],
    from_flags: Mapping[str, Any],
) -> ShipyardConfig:
    # imported here: the validator imports pydantic, which a cache hit never needs
    from shipyard.config import validate

    origin: dict[Path_, str] = {}
    merged: dict[str, Any] = {}
    for path, data in sources:
        layer = parse_toml(data, path, root)
        merged = deep_merge(merged, layer, origin=origin, source=str(path.relative_to(root)))
    for layer_values, source in (
        (from_environ, "environment variable"),
        (from_flags, "command-line flag"),
    ):
        layered: dict[str, Any] = {}
        for key, value in layer_values.items():
            set_path(layered, key, value)
        merged = deep_merge(merged, layered, origin=origin, source=source)
    merged["environment"] = environment
    env_rel = str(sources[-1][0].relative_to(root))
    files = f"{env_rel} (or {BASE_FILE})"  # where a value no layer set is missing from
    return validate.config(merged, origin, files)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
