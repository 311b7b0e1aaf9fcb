"""The values of GitHub Actions expressions and GitHub's rules for them: truthiness,
conversion to number and to string, loose equality and comparison, and property access
(case-insensitive, a missing property is null, `.*` filters)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any


class _Filtered(list[Any]):
    """The result of `.*`: a property of it is taken from each element."""


def truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, float | int) and not isinstance(value, bool):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        try:
            if re.fullmatch(r"[+-]?0x[0-9a-fA-F]+", text):
                return float(int(text, 16))
            if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
                return float(text)
        except ValueError:
            return math.nan
        return math.nan
    return math.nan


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float | int):
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "Object"
    return "Array"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def loosely_equal(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        if "object" in (ka, kb):
            return False
        return to_number(a) == to_number(b)  # NaN is equal to nothing
    if ka == "string":
        return str(a).casefold() == str(b).casefold()
    if ka == "number":
        return float(a) == float(b)
    if ka == "object":
        return a is b
    return bool(a == b)


def _compare(op: str, a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if "object" in (ka, kb):
        return False
    if ka == kb == "string":
        x: Any = str(a).casefold()
        y: Any = str(b).casefold()
    else:
        x, y = to_number(a), to_number(b)
        if math.isnan(x) or math.isnan(y):
            return False
    return bool({"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op])


def _property(obj: Any, name: Any) -> Any:
    if isinstance(obj, _Filtered):
        return _Filtered(v for v in (_property(item, name) for item in obj) if v is not None)
    if isinstance(obj, Mapping):
        if name in obj:
            return obj[name]
        wanted = str(name).casefold()
        for key, value in obj.items():
            if str(key).casefold() == wanted:
                return value
        return None
    if isinstance(obj, list | tuple) and not isinstance(name, str):
        number = to_number(name)
        if math.isnan(number) or number < 0 or not number.is_integer():
            return None
        index = int(number)
        return obj[index] if index < len(obj) else None
    return None
