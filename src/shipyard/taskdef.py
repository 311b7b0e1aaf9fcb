"""ECS task definitions (pure): base + environment overlay (+ service overlay) + image.

The same rendered document drives every target: ECS registers it, the local target runs its
containers on Docker. Files hold the AWS JSON shape (what `aws ecs describe-task-definition`
prints, which is accepted as is: read-only fields are stripped). Strings may use
{{environment}}, {{region}}, {{account_id}}, {{version}} and {{service}} placeholders.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.config.merge import LIST_MERGE_KEYS, deep_merge
from shipyard.errors import ConfigError
from shipyard.records import record

READ_ONLY_FIELDS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
)
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


@record
class Rendered:
    document: dict[str, Any]
    sources: tuple[str, ...]  # files merged, lowest first

    @property
    def family(self) -> str:
        return str(self.document.get("family", ""))

    def container(self, name: str) -> dict[str, Any]:
        return find_container(self.document, name)

    @property
    def digest(self) -> str:
        return content_hash(self.document)


def load_file(path: Path, root: Path | None = None) -> dict[str, Any]:
    shown = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{shown}: task definition file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{shown}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}: a task definition must be a JSON object")
    return accept_described(data)


def accept_described(data: Mapping[str, Any]) -> dict[str, Any]:
    """Take `describe-task-definition` output as well as a plain definition."""
    doc = dict(data["taskDefinition"]) if "taskDefinition" in data else dict(data)
    return strip_read_only(doc)


def strip_read_only(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in doc.items() if k not in READ_ONLY_FIELDS}


def substitute(value: Any, variables: Mapping[str, str], *, where: str = "", path: str = "") -> Any:
    """Fill {{name}} placeholders; an unknown one is a ConfigError naming `where` (the files)
    and the key path (entries of name-keyed lists by name: containerDefinitions[app].image)."""
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in variables:
                at = f": {path}" if path else ""
                raise ConfigError(
                    f"{where or 'task definition'}{at}: unknown placeholder {{{{{key}}}}}",
                    hint=f"known: {', '.join(sorted(variables))}",
                )
            return variables[key]

        return _PLACEHOLDER.sub(repl, value)
    if isinstance(value, list):
        return [
            substitute(v, variables, where=where, path=f"{path}[{_label(path, v, i)}]")
            for i, v in enumerate(value)
        ]
    if isinstance(value, dict):
        return {
            k: substitute(v, variables, where=where, path=f"{path}.{k}" if path else str(k))
            for k, v in value.items()
        }
    return value


def _label(path: str, item: Any, index: int) -> str:
    """Containers and volumes by name (as overlays name them), other entries by index."""
    if path.endswith(tuple(LIST_MERGE_KEYS)) and isinstance(item, dict):
        name = item.get("name")
        if isinstance(name, str) and name and "{{" not in name:
            return name
    return str(index)


class MissingContainer(ConfigError):
    """The configured container (taskdef.container, a service's container) is not in the task
    definition; pre-flight names the config key that chose it."""

    def __init__(self, message: str, *, name: str, names: list[str], hint: str) -> None:
        super().__init__(message, hint=hint)
        self.name = name
        self.names = names


def find_container(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    listed = doc.get("containerDefinitions", [])
    containers = [c for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
    for container in containers:
        if container.get("name") == name:
            return dict(container)
    names = [str(c.get("name")) for c in containers]
    raise MissingContainer(
        f"task definition has no container named {name!r} (it has: {', '.join(names)})",
        name=name,
        names=names,
        hint="set taskdef.container (or the service's container) to the app container's name",
    )


def render(
    root: Path,
    *,
    base: str,
    overlays: list[str],
    container: str,
    image: str | None,
    variables: Mapping[str, str],
) -> Rendered:
    """Merge base and overlays (missing optional overlays are skipped by the caller), fill
    placeholders and set `container`'s image (None keeps the file's, for plans and diffs)."""
    sources = [base, *overlays]
    doc: dict[str, Any] = {}
    for rel in sources:
        doc = deep_merge(doc, load_file(root / rel, root))
    doc = _apply_deletions(doc)
    doc = substitute(doc, variables, where=" + ".join(sources))
    find_container(doc, container)
    if image is not None:
        for c in doc["containerDefinitions"]:
            if isinstance(c, dict) and c.get("name") == container:
                c["image"] = image
    return Rendered(doc, tuple(sources))


def _apply_deletions(doc: dict[str, Any]) -> dict[str, Any]:
    """An overlay removes a container or volume by naming it with "$delete": true."""
    for key in ("containerDefinitions", "volumes"):
        if key in doc:
            doc[key] = [
                item for item in doc[key] if not (isinstance(item, dict) and item.get("$delete"))
            ]
    return doc


def canonical(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A comparable form: read-only fields gone, name-keyed lists in name order, empty
    values dropped (AWS omits them when describing)."""

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in sorted(value.items()) if v not in (None, [], {})}
        if isinstance(value, list):
            items = [norm(v) for v in value]
            if items and all(isinstance(i, dict) and "name" in i for i in items):
                items.sort(key=lambda i: str(i["name"]))
            return items
        return value

    result: dict[str, Any] = norm(strip_read_only(doc))
    return result


def content_hash(doc: Mapping[str, Any]) -> str:
    blob = json.dumps(canonical(doc), sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def diff(live: Mapping[str, Any], desired: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """Field-level differences as (path, live, desired), paths like
    containerDefinitions[<container>].image."""
    changes: list[tuple[str, Any, Any]] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key), b.get(key), f"{path}.{key}" if path else key)
        elif (
            isinstance(a, list)
            and isinstance(b, list)
            and all(isinstance(i, dict) and "name" in i for i in a + b)
        ):
            left = {i["name"]: i for i in a}
            right = {i["name"]: i for i in b}
            for name in sorted(set(left) | set(right)):
                walk(left.get(name), right.get(name), f"{path}[{name}]")
        elif a != b:
            changes.append((path, a, b))

    walk(canonical(live), canonical(desired), "")
    return changes
