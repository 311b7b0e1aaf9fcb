"""Deep merge of configuration layers, remembering which layer set each key."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Path_ = tuple[str | int, ...]

# Lists of these objects merge element-wise by this key instead of being replaced, so an
# environment overlay can change one container of a task definition by naming it.
LIST_MERGE_KEYS = {"containerDefinitions": "name", "volumes": "name"}


def deep_merge(
    base: Mapping[str, Any],
    overlay: Mapping[str, Any],
    *,
    origin: dict[Path_, str] | None = None,
    source: str = "",
    _path: Path_ = (),
) -> dict[str, Any]:
    """Return base with overlay merged on top. Dicts merge recursively; lists listed in
    LIST_MERGE_KEYS merge by their key; every other value is replaced. When `origin` is
    given, it records for each key path set by overlay the `source` that set it."""
    result: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        path = (*_path, key)
        if origin is not None:
            _record(origin, path, value, source)
        current = result.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            result[key] = deep_merge(current, value, origin=None, source=source, _path=path)
        elif key in LIST_MERGE_KEYS and isinstance(current, list) and isinstance(value, list):
            result[key] = _merge_by_key(current, value, LIST_MERGE_KEYS[key])
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_by_key(base: list[Any], overlay: list[Any], key: str) -> list[Any]:
    merged = [copy.deepcopy(item) for item in base]
    index = {item.get(key): i for i, item in enumerate(merged) if isinstance(item, Mapping)}
    for item in overlay:
        if isinstance(item, Mapping) and item.get(key) in index:
            i = index[item[key]]
            merged[i] = deep_merge(merged[i], item)
        else:
            merged.append(copy.deepcopy(item))
    return merged


def _record(origin: dict[Path_, str], path: Path_, value: Any, source: str) -> None:
    origin[path] = source
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _record(origin, (*path, key), sub, source)


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value
