"""Validation of a merged configuration, and the one-line wording of its first problem.

The only module that imports pydantic, and only a cache miss imports it (loader.load_config):
a cached configuration is read back as plain dataclasses, so `inv version` never pays for
pydantic's import (about 25 ms) or for building the validators (about 90 ms). pydantic validates
the stdlib dataclasses of shipyard.config directly (see shipyard.config.base).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from shipyard.config.base import SecretRef, Section
from shipyard.config.merge import Path_
from shipyard.config.model import ShipyardConfig
from shipyard.errors import ConfigError

S = TypeVar("S", bound=Section)


# built once per process and class: building ShipyardConfig's validator is most of the cost
_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def section(cls: type[S], data: Mapping[str, Any]) -> S:
    """`data` validated as a `cls` (a section, or the whole ShipyardConfig), exactly as a config
    file's table is; raises pydantic's ValidationError."""
    validated: S = _adapter(cls).validate_python(data)
    return validated


def config(merged: dict[str, Any], origin: dict[Path_, str], files: str) -> ShipyardConfig:
    """The merged layers as a ShipyardConfig, or ConfigError naming the first problem, where
    it was set (`origin`: key path -> layer; `files` when no layer set it) and how many more
    problems there are."""
    try:
        return section(ShipyardConfig, merged)
    except ValidationError as exc:
        raise ConfigError(describe(exc.errors(), merged, origin, files)) from None


def describe(
    errors: list[ErrorDetails], data: dict[str, Any], origin: dict[Path_, str], files: str
) -> str:
    first = errors[0]
    loc = _clean_loc(first["loc"], data)
    dotted = ".".join(str(p) for p in loc) or "(top level)"
    source = _source_for(loc, origin) or files
    kind = first["type"]
    if kind == "unexpected_keyword_argument":  # a dataclass's word for an unknown key
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
        msg = _message(first)
        what = f"{msg[0].lower()}{msg[1:]}{shown}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{source}: {dotted}: {what}{more}"


# values are taken as written (Section is strict): "8080" is not a number, "true" not a boolean
_STRICT_TYPES = {"int_type", "float_type", "bool_type"}


def _message(error: ErrorDetails) -> str:
    """pydantic's message, in the words it used when the sections were models."""
    if error["type"] == "dataclass_type":
        name = (error.get("ctx") or {}).get("class_name", "")
        return f"Input should be a valid dictionary or instance of {name}"
    return error["msg"]


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


def _section_at(loc: tuple[str | int, ...], data: dict[str, Any]) -> type[Section] | None:
    """The section the value at `loc` is (None: not a section, or a path into nothing)."""
    model: type[Section] | None = ShipyardConfig
    node: Any = data
    for part in loc:
        if model is None:
            return None
        node = node.get(part) if isinstance(node, dict) else None
        model = _field_model(model, str(part), node)
    return model


def _allowed_keys(parent: tuple[str | int, ...], data: dict[str, Any]) -> list[str]:
    model = _section_at(parent, data)
    return sorted(f.name for f in dataclasses.fields(model)) if model else []


def _is_secret_field(loc: tuple[str | int, ...], data: dict[str, Any]) -> bool:
    return bool(loc) and _section_at(loc, data) is SecretRef


def _hints(model: type[Section]) -> dict[str, Any]:
    # the annotations are strings (from __future__ import annotations); only a problem's
    # wording needs them resolved
    return typing.get_type_hints(model)


def _field_model(model: type[Section], name: str, node: Any) -> type[Section] | None:
    """The section a field of `model` holds (a list item's, an optional's), chosen among a
    union's members by the `kind` written in `node`."""
    annotation = _hints(model).get(name)
    if annotation is None:
        return None
    candidates: list[Any] = [annotation]
    found: list[type[Section]] = []
    while candidates:
        ann = candidates.pop()
        if isinstance(ann, type) and issubclass(ann, Section):
            found.append(ann)
        else:
            candidates.extend(typing.get_args(ann))
    if len(found) > 1 and isinstance(node, dict) and "kind" in node:
        for candidate in found:
            kind = _kind_default(candidate)
            if kind is not None and kind == node["kind"]:
                return candidate
    return found[0] if found else None


def _kind_default(model: type[Section]) -> Any:
    for f in dataclasses.fields(model):
        if f.name == "kind":
            return f.default
    return None
