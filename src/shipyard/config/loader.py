"""Load one environment's configuration.

Layers, lowest first: model defaults < deploy/shipyard.toml < deploy/environments/<env>.toml
< environment variables (ENV_VAR_OVERRIDES) < explicit flags. An explicit flag always wins;
an environment variable never silently beats it.
"""

from __future__ import annotations

import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from shipyard.config.base import SecretRef
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

    try:
        return validated(merged, ShipyardConfig.model_validate, environ)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, merged, origin, env_rel)) from None


def _describe(
    exc: ValidationError, data: dict[str, Any], origin: dict[Path_, str], env_file: str
) -> str:
    errors = exc.errors()
    first = errors[0]
    loc = _clean_loc(first["loc"], data)
    dotted = ".".join(str(p) for p in loc) or "(top level)"
    source = _source_for(loc, origin) or f"{env_file} (or {BASE_FILE})"
    kind = first["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], data)
        what = "unknown key" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
    elif kind == "missing":
        what = "required value is missing"
    elif _is_secret_field(loc, data):
        # whatever was written there may be the secret itself: never echo it back
        what = (
            'expected a secret reference such as { env = "NAME" }, { file = "path" }, '
            '{ ssm = "/param" } or { secretsmanager = "arn:..." }, never the value itself'
        )
        if first["msg"].startswith("Value error"):
            what = first["msg"].removeprefix("Value error, ")
    elif kind == "value_error":
        what = first["msg"].removeprefix("Value error, ")  # the validator's own sentence
    else:
        got = first.get("input")
        shown = "" if isinstance(got, dict | list) else f", got {got!r}"
        if kind in _STRICT_TYPES and isinstance(got, str):
            shown += " (a string: write it without quotes)"
        what = f"{first['msg'][0].lower()}{first['msg'][1:]}{shown}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{source}: {dotted}: {what}{more}"


# values are taken as written (Section is strict): "8080" is not a number, "true" not a boolean
_STRICT_TYPES = {"int_type", "float_type", "bool_type"}


def _clean_loc(loc: tuple[Any, ...], data: Any) -> tuple[str | int, ...]:
    """Drop the union tags pydantic puts into error locations (registry.oci.url -> registry.url)."""
    cleaned: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and isinstance(part, str) and _is_tag(part):
            continue
        cleaned.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(cleaned)


_TAGS = {"oci", "ecr", "local", "ecs", "ecs-bluegreen"}


def _is_tag(part: str) -> bool:
    return part in _TAGS or part.startswith(("function-", "tagged-union"))


def _source_for(loc: tuple[str | int, ...], origin: dict[Path_, str]) -> str | None:
    for end in range(len(loc), 0, -1):
        found = origin.get(loc[:end])
        if found:
            return found
    return None


def _allowed_keys(parent: tuple[str | int, ...], data: dict[str, Any]) -> list[str]:
    model: type[BaseModel] | None = ShipyardConfig
    node: Any = data
    for part in parent:
        if model is None:
            return []
        node = node.get(part) if isinstance(node, dict) else None
        model = _field_model(model, str(part), node)
    return sorted(model.model_fields) if model else []


def _is_secret_field(loc: tuple[str | int, ...], data: dict[str, Any]) -> bool:
    if not loc:
        return False
    model: type[BaseModel] | None = ShipyardConfig
    node: Any = data
    for part in loc[:-1]:
        if model is None:
            return False
        node = node.get(part) if isinstance(node, dict) else None
        model = _field_model(model, str(part), node)
    if model is None:
        return False
    node = node.get(loc[-1]) if isinstance(node, dict) else None
    return _field_model(model, str(loc[-1]), node) is SecretRef


def _field_model(model: type[BaseModel], name: str, node: Any) -> type[BaseModel] | None:

    field = model.model_fields.get(name)
    if field is None:
        return None
    candidates: list[Any] = [field.annotation]
    found: list[type[BaseModel]] = []
    while candidates:
        ann = candidates.pop()
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            found.append(ann)
        else:
            candidates.extend(typing.get_args(ann))
    if len(found) > 1 and isinstance(node, dict) and "kind" in node:
        for candidate in found:
            kind_field = candidate.model_fields.get("kind")
            if kind_field is not None and kind_field.default == node["kind"]:
                return candidate
    return found[0] if found else None


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
