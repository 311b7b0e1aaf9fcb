"""GitHub Actions expressions and workflow files, as the runner reads them.

    load_workflow(path)              the YAML, with YAML 1.1's `True` key turned back into `on`
    evaluate(text, contexts, status) one expression (`a == 'b' && !c`), GitHub's semantics
    interpolate(text, contexts, ...) a string with `${{ … }}` inside, every result as a string
    condition(text, contexts, ...)   an `if:` (with or without `${{ }}`); a condition without a
                                     status function means `success() && (condition)`

A small real parser: a tokenizer and precedence climbing into a tree, then a tree walk. No
eval() (the parser is in gha_parse.py, the values' rules in gha_values.py). The semantics
follow GitHub's documentation of expressions:

- literals: null, true, false, numbers (also 0x.., 1e3), 'strings' ('' is a quote inside);
- operators, tightest first: ( ) [ ] . then ! then < <= > >= then == != then && then ||;
- `a.b` and `a['b']` read a property (case-insensitively), a missing one is null; `a.*` and
  `a[*]` are every value of an object or array, and a property of that list is the list of
  each element's property (`needs.*.result`);
- && and || give back one of their operands (the first falsy / truthy one, else the last);
  falsy are false, 0, -0, NaN, '' and null;
- == and != compare loosely: values of different types are compared as numbers (null is 0,
  true is 1, '' is 0, a string that is no number is NaN), strings ignore case, arrays and
  objects are equal only to themselves; < <= > >= compare the same way;
- functions: contains, startsWith, endsWith, format, join, toJSON, fromJSON and the status
  functions success, always, cancelled, failure, answered by the caller's `Status`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.gha_parse import ExpressionError, Node, parse
from tests.support.gha_values import (
    _compare,
    _Filtered,
    _property,
    loosely_equal,
    to_string,
    truthy,
)

# -- the workflow file ---------------------------------------------------------------------------


def load_workflow(path: Path) -> dict[str, Any]:
    """The workflow as data. YAML 1.1 (PyYAML) reads the key `on` as the boolean True."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a workflow is a mapping")
    if True in data:
        data["on"] = data.pop(True)
    return data


# -- status functions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """What success(), failure() and cancelled() answer where the expression is evaluated."""

    success: bool = True
    failure: bool = False
    cancelled: bool = False


STATUS_FUNCTIONS = ("success", "always", "cancelled", "failure")


def uses_status_function(text: str) -> bool:
    """Whether an `if:` names a status function (else GitHub puts success() && in front)."""
    node = parse(_unwrap(text))

    def walk(n: Node) -> bool:
        if n[0] == "call" and n[1] in STATUS_FUNCTIONS:
            return True
        return any(walk(c) for c in _children(n))

    return walk(node)


def _children(node: Node) -> list[Node]:
    kind = node[0]
    if kind in ("prop", "star"):
        return [node[1]]
    if kind == "index":
        return [node[1], node[2]]
    if kind == "not":
        return [node[1]]
    if kind == "bin":
        return [node[2], node[3]]
    if kind == "call":
        return list(node[2])
    return []


# -- evaluation ----------------------------------------------------------------------------------


def _format(template: str, *args: Any) -> str:
    out, i = [], 0
    while i < len(template):
        ch = template[i]
        if template.startswith("{{", i):
            out.append("{")
            i += 2
        elif template.startswith("}}", i):
            out.append("}")
            i += 2
        elif ch == "{":
            end = template.find("}", i)
            if end < 0 or not template[i + 1 : end].isdigit():
                raise ExpressionError(f"format: bad placeholder in {template!r}")
            index = int(template[i + 1 : end])
            if index >= len(args):
                raise ExpressionError(f"format: no argument {index} for {template!r}")
            out.append(to_string(args[index]))
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def to_json(value: Any) -> str:
    """toJSON(): GitHub pretty-prints with two spaces."""
    return json.dumps(_plain(value), indent=2)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _contains(search: Any, item: Any) -> bool:
    if isinstance(search, list | tuple):
        return any(loosely_equal(element, item) for element in search)
    return to_string(item).casefold() in to_string(search).casefold()


def _join(items: Any, separator: Any = ",") -> str:
    if isinstance(items, list | tuple):
        return to_string(separator).join(to_string(x) for x in items)
    return to_string(items)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": _contains,
    "startswith": lambda s, v: to_string(s).casefold().startswith(to_string(v).casefold()),
    "endswith": lambda s, v: to_string(s).casefold().endswith(to_string(v).casefold()),
    "format": lambda t, *a: _format(to_string(t), *a),
    "join": _join,
    "tojson": to_json,
    "fromjson": lambda s: json.loads(to_string(s)),
}


def _eval(node: Node, contexts: Mapping[str, Any], status: Status) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "ctx":
        name = node[1]
        for key, value in contexts.items():
            if key.casefold() == name.casefold():
                return value
        raise ExpressionError(f"unknown context {name!r}")
    if kind == "prop":
        return _property(_eval(node[1], contexts, status), node[2])
    if kind == "index":
        obj = _eval(node[1], contexts, status)
        key = _eval(node[2], contexts, status)
        if isinstance(obj, Mapping):
            return _property(obj, to_string(key))
        return _property(obj, key)
    if kind == "star":
        obj = _eval(node[1], contexts, status)
        if isinstance(obj, Mapping):
            return _Filtered(obj.values())
        if isinstance(obj, list | tuple):
            return _Filtered(obj)
        return _Filtered()
    if kind == "not":
        return not truthy(_eval(node[1], contexts, status))
    if kind == "bin":
        op = node[1]
        left = _eval(node[2], contexts, status)
        if op == "&&":
            return _eval(node[3], contexts, status) if truthy(left) else left
        if op == "||":
            return left if truthy(left) else _eval(node[3], contexts, status)
        right = _eval(node[3], contexts, status)
        if op == "==":
            return loosely_equal(left, right)
        if op == "!=":
            return not loosely_equal(left, right)
        return _compare(op, left, right)
    if kind == "call":
        name, args = node[1], node[2]
        if name in STATUS_FUNCTIONS:
            if args:
                raise ExpressionError(f"{name}() takes no arguments")
            return {
                "always": True,
                "success": status.success,
                "failure": status.failure,
                "cancelled": status.cancelled,
            }[name]
        function = _FUNCTIONS.get(name)
        if function is None:
            raise ExpressionError(f"unknown function {name}()")
        values = [_eval(a, contexts, status) for a in args]
        return function(*values)
    raise ExpressionError(f"bad node {node!r}")


def evaluate(text: str, contexts: Mapping[str, Any], status: Status | None = None) -> Any:
    """One expression, without `${{ }}` around it."""
    value = _eval(parse(text), contexts, status or Status())
    return list(value) if isinstance(value, _Filtered) else value


# -- ${{ }} in strings ---------------------------------------------------------------------------


def _segments(text: str) -> list[tuple[bool, str]]:
    """(is_expression, text) pieces of a string holding `${{ … }}` (a `}}` inside a string
    literal does not end the expression)."""
    pieces: list[tuple[bool, str]] = []
    i = 0
    while True:
        start = text.find("${{", i)
        if start < 0:
            if i < len(text):
                pieces.append((False, text[i:]))
            return pieces
        if start > i:
            pieces.append((False, text[i:start]))
        j, quoted = start + 3, False
        while True:
            if j >= len(text):
                raise ExpressionError(f"unterminated ${{{{ in {text!r}")
            if text[j] == "'":
                quoted = not quoted
            elif not quoted and text.startswith("}}", j):
                break
            j += 1
        pieces.append((True, text[start + 3 : j].strip()))
        i = j + 2


def interpolate(text: Any, contexts: Mapping[str, Any], status: Status | None = None) -> str:
    """A value from `env:`, `with:` or `outputs:`: every `${{ expr }}` replaced by its value
    as a string. Non-strings (a YAML number or boolean) become their string."""
    if not isinstance(text, str):
        if isinstance(text, bool):
            return "true" if text else "false"
        return to_string(text)
    return "".join(
        to_string(evaluate(piece, contexts, status)) if is_expr else piece
        for is_expr, piece in _segments(text)
    )


def interpolate_value(text: Any, contexts: Mapping[str, Any], status: Status | None = None) -> Any:
    """Like interpolate, but a string that is exactly one `${{ expr }}` keeps the value's
    type (how GitHub reads e.g. `cancel-in-progress: ${{ … }}`)."""
    if isinstance(text, str):
        pieces = _segments(text.strip())
        if len(pieces) == 1 and pieces[0][0]:
            return evaluate(pieces[0][1], contexts, status)
    return interpolate(text, contexts, status)


def _unwrap(text: str) -> str:
    stripped = text.strip()
    pieces = _segments(stripped)
    if len(pieces) == 1 and pieces[0][0]:
        return pieces[0][1]
    return stripped


def condition(
    text: Any,
    contexts: Mapping[str, Any],
    status: Status,
) -> bool:
    """An `if:`: absent means success(); one without a status function means
    `success() && (…)`; `${{ }}` around the whole of it is optional."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return status.success
    if isinstance(text, bool):
        return text and status.success
    source = str(text).strip()
    pieces = _segments(source)
    if pieces and not (len(pieces) == 1 and pieces[0][0]) and any(e for e, _ in pieces):
        # text around ${{ }}: the result is a string, truthy unless empty
        return truthy(interpolate(source, contexts, status)) and status.success
    expression = _unwrap(source)
    value = truthy(evaluate(expression, contexts, status))
    if not uses_status_function(expression):
        return status.success and value
    return value


def expressions_in(value: Any) -> list[str]:
    """Every `${{ … }}` expression anywhere in a workflow value (keys and values)."""
    found: list[str] = []
    if isinstance(value, str):
        found.extend(piece for is_expr, piece in _segments(value) if is_expr)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            found.extend(expressions_in(key))
            found.extend(expressions_in(item))
    elif isinstance(value, Sequence) and not isinstance(value, bytes):
        for item in value:
            found.extend(expressions_in(item))
    return found
