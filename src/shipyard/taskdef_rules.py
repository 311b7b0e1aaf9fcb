"""What a rendered task definition must hold before anything is built or pushed (pure).

`check` walks every container definition and raises `Problem` at the first thing a deploy
would trip over later: a missing or repeated name, an image without a tag or digest, a port
that is not a number, a health check outside the limits, a dependsOn naming no container, a
secret reference of the wrong syntax. A Problem carries the JSON path (containers by name,
list entries by index); shipyard.preflight finds the file that set it and words the line.
ECS environments get ECS's limits; the local target (Docker) is allowed what Docker allows,
such as a 1 s health-check interval.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shipyard.errors import ConfigError
from shipyard.records import record
from shipyard.taskdef_local import DEPENDENCY_CONDITIONS, dependency_order, secret_ref

CD = "containerDefinitions"
_MISSING: Any = object()

# ECS's limits of healthCheck (seconds, count); Docker (the local target) needs only these minima
ECS_HEALTH_LIMITS: dict[str, tuple[int, int | None]] = {
    "interval": (5, 300),
    "timeout": (2, 60),
    "retries": (1, 10),
    "startPeriod": (0, 300),
}
LOCAL_HEALTH_LIMITS: dict[str, tuple[int, int | None]] = {
    "interval": (1, None),
    "timeout": (1, None),
    "retries": (1, None),
    "startPeriod": (0, None),
}
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")  # ECS container names and families
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"^(?:[A-Za-z0-9.-]+(?::\d+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?P<tag>:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?P<digest>@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,})?$"
)
_ECS_SECRET = re.compile(
    r"^arn:aws[a-z-]*:(?:secretsmanager|ssm):[a-z0-9-]+:\d{12}:\S+$"  # an ARN
    r"|^/?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$"  # an SSM parameter name of the region
)


@record
class Ref:
    """One entry of a name-keyed list (containers, volumes) in a path: by name when it has a
    usable one, else by its index in the file that holds it."""

    index: int
    name: Any
    duplicate: bool = False

    @property
    def named(self) -> bool:
        return isinstance(self.name, str) and bool(self.name) and not self.duplicate


Key = str | int | Ref


class Problem(Exception):
    def __init__(self, path: tuple[Key, ...], what: str, hint: str | None = None) -> None:
        super().__init__(what)
        self.path = path
        self.what = what
        self.hint = hint


def _got(value: Any) -> str:
    return "it is missing" if value is _MISSING else f"got {value!r}"


def _unit(unit: str, *, ecs: bool) -> str:
    return f" ({unit}, ECS's limit)" if ecs else f" ({unit})"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_in(path: tuple[Key, ...], value: Any, low: int, high: int | None, unit: str = "") -> None:
    if _is_int(value) and value >= low and (high is None or value <= high):
        return
    span = f"{low}..{high}" if high is not None else f"of at least {low}"
    quoted = " (a string: write it without quotes)" if isinstance(value, str) else ""
    raise Problem(path, f"expected an integer {span}{unit}, {_got(value)}{quoted}")


def _list(path: tuple[Key, ...], value: Any, what: str) -> list[Any]:
    """The list at `path` ([] when absent or null); anything else is a Problem."""
    if value is _MISSING or value is None:
        return []
    if not isinstance(value, list):
        raise Problem(path, f"expected a list of {what}, got {type(value).__name__}")
    return value


def _object(path: tuple[Key, ...], value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise Problem(path, f"expected an object ({what}), got {value!r}")
    return value


def _string(path: tuple[Key, ...], value: Any, what: str, *, empty: bool = False) -> str:
    if isinstance(value, str) and (empty or value):
        return value
    raise Problem(
        path, f"expected {what} as a {'' if empty else 'non-empty '}string, {_got(value)}"
    )


def image_is_pinned(image: str) -> bool | None:
    """True: a tag or digest; False: a bare name; None: not an image reference at all."""
    match = _IMAGE.match(image)
    if match is None:
        return None
    return bool(match.group("tag") or match.group("digest"))


# -- the task ---------------------------------------------------------------------------------
def check(document: Mapping[str, Any], *, app: str, ecs: bool) -> None:
    """Raise Problem at the first thing wrong in `document` (rendered, image set). `app` is
    the container whose image each release sets; `ecs`: apply ECS's rules and limits."""
    if ecs:
        family = document.get("family", _MISSING)
        if not (isinstance(family, str) and _NAME.match(family)):
            raise Problem(
                ("family",), f"expected letters, digits, _ and - (up to 255), {_got(family)}"
            )
    volumes = _volume_names(document)
    containers = _containers(document)
    for ref, c in containers:
        _container(ref, c, volumes=volumes, ecs=ecs, app=ref.name == app)
        _dependencies(ref, c, containers, ecs=ecs)
    if not any(c.get("essential", True) for _, c in containers):
        raise Problem((CD,), "expected at least one container with essential true")
    _cycles(containers)
    if ecs and str(document.get("networkMode", "")) in ("awsvpc", "host"):
        _same_host_ports(containers, str(document["networkMode"]))


def _volume_names(document: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for i, vol in enumerate(_list(("volumes",), document.get("volumes", _MISSING), "volumes")):
        _object(("volumes", i), vol, "a volume: {name, ...}")
        name = vol.get("name", _MISSING)
        _string(("volumes", Ref(i, name), "name"), name, "the volume's name")
        names.append(name)
    return names


def _containers(document: Mapping[str, Any]) -> list[tuple[Ref, Mapping[str, Any]]]:
    listed = _list((CD,), document.get(CD, _MISSING), "container definitions")
    if not listed:
        raise Problem((CD,), "expected at least one container definition")
    found: list[tuple[Ref, Mapping[str, Any]]] = []
    seen: set[str] = set()
    for i, c in enumerate(listed):
        _object((CD, i), c, "a container definition")
        name = c.get("name", _MISSING)
        ref = Ref(i, None if name is _MISSING else name)
        if name is _MISSING:
            raise Problem(
                (CD, ref, "name"),
                "required: every container needs a name",
                hint="name it; an overlay changes a container of the base by naming it",
            )
        if not (isinstance(name, str) and _NAME.match(name)):
            raise Problem(
                (CD, ref, "name"), f"expected letters, digits, _ and - (up to 255), got {name!r}"
            )
        if name in seen:
            raise Problem(
                (CD, Ref(i, name, duplicate=True), "name"),
                f"{name!r} names two containers; container names must be unique",
            )
        seen.add(name)
        found.append((ref, c))
    return found


# -- one container ----------------------------------------------------------------------------
def _container(
    ref: Ref,
    c: Mapping[str, Any],
    *,
    volumes: list[str],
    ecs: bool,
    app: bool,
) -> None:
    at: tuple[Key, ...] = (CD, ref)
    if not app:  # the app container's image is the release's
        _image(at, c.get("image", _MISSING))
    for key in ("command", "entryPoint"):
        for i, arg in enumerate(_list((*at, key), c.get(key, _MISSING), "strings")):
            _string((*at, key, i), arg, "an argument", empty=True)
    if not isinstance(c.get("essential", True), bool):
        raise Problem((*at, "essential"), f"expected true or false, got {c['essential']!r}")
    if "stopTimeout" in c:
        low, high = (2, 120) if ecs else (0, None)
        _int_in((*at, "stopTimeout"), c["stopTimeout"], low, high, _unit("seconds", ecs=ecs))
    if "linuxParameters" in c:
        _object((*at, "linuxParameters"), c["linuxParameters"], "Linux parameters")
    _environment(at, c)
    _secrets(at, c, ecs=ecs)
    _ports(at, c, need_tcp=app and not ecs)
    _health(at, c, ecs=ecs)
    _mounts(at, c, volumes)


def _image(at: tuple[Key, ...], image: Any) -> None:
    path = (*at, "image")
    _string(path, image, "the image to run (repository:tag or repository@sha256:...)")
    pinned = image_is_pinned(image)
    if pinned is None:
        raise Problem(path, f"{image!r} is not an image reference")
    if not pinned:
        raise Problem(
            path,
            f"{image!r} has no tag or digest",
            hint="name a tag (repository:1.2.3) or a digest (repository@sha256:...); "
            "a bare name runs whatever :latest is that day",
        )
    if "@sha256:" not in image:
        # a tag is whatever its publisher last pushed: a sidecar would change under a release
        raise Problem(
            path,
            f"{image!r} is not pinned by digest",
            hint="pin it as repository:tag@sha256:...; "
            "`docker buildx imagetools inspect IMAGE` prints the digest",
        )


def _environment(at: tuple[Key, ...], c: Mapping[str, Any]) -> None:
    entries = _list((*at, "environment"), c.get("environment", _MISSING), "{name, value} objects")
    for i, entry in enumerate(entries):
        path = (*at, "environment", i)
        _object(path, entry, "{name, value}")
        _string((*path, "name"), entry.get("name", _MISSING), "the variable's name")
        value = entry.get("value", _MISSING)
        if not isinstance(value, str):
            raise Problem(
                (*path, "value"),
                f"expected a string (ECS takes only strings: quote numbers), {_got(value)}",
            )


def _secrets(at: tuple[Key, ...], c: Mapping[str, Any], *, ecs: bool) -> None:
    entries = _list((*at, "secrets"), c.get("secrets", _MISSING), "{name, valueFrom} objects")
    for i, entry in enumerate(entries):
        path = (*at, "secrets", i)
        _object(path, entry, "{name, valueFrom}")
        _string((*path, "name"), entry.get("name", _MISSING), "the variable's name")
        where = (*path, "valueFrom")
        value = _string(where, entry.get("valueFrom", _MISSING), "a secret reference")
        if ecs:
            if not _ECS_SECRET.match(value):
                raise Problem(
                    where,
                    f"{value!r} is not a Secrets Manager or SSM parameter ARN, nor an SSM "
                    "parameter name",
                    hint="ECS reads arn:aws:secretsmanager:..., arn:aws:ssm:... or /name; "
                    "env:NAME and file:PATH are for the local target",
                )
            continue
        try:
            secret_ref(value, where="")
        except (ConfigError, ValueError) as exc:
            hint = exc.hint if isinstance(exc, ConfigError) else None
            raise Problem(where, f"{value!r} is not a secret reference", hint=hint) from None


def _ports(at: tuple[Key, ...], c: Mapping[str, Any], *, need_tcp: bool) -> None:
    tcp = False
    mappings = _list((*at, "portMappings"), c.get("portMappings", _MISSING), "port mappings")
    for i, pm in enumerate(mappings):
        path = (*at, "portMappings", i)
        _object(path, pm, "{containerPort, protocol, ...}")
        if "containerPortRange" in pm and "containerPort" not in pm:
            continue
        _int_in((*path, "containerPort"), pm.get("containerPort", _MISSING), 1, 65535)
        if "hostPort" in pm:
            _int_in((*path, "hostPort"), pm["hostPort"], 0, 65535, " (0: any free port)")
        protocol = pm.get("protocol", "tcp")
        if protocol not in ("tcp", "udp"):
            raise Problem((*path, "protocol"), f"expected tcp or udp, got {protocol!r}")
        tcp = tcp or protocol == "tcp"
    if need_tcp and not tcp:
        raise Problem(
            (*at, "portMappings"),
            "the app container needs a tcp containerPort: nothing for nginx to route to",
            hint='add { "containerPort": 8080, "protocol": "tcp" }',
        )


def _health(at: tuple[Key, ...], c: Mapping[str, Any], *, ecs: bool) -> None:
    hc = c.get("healthCheck")
    if hc is None:
        return
    path = (*at, "healthCheck")
    _object(path, hc, "{command, interval, timeout, retries, startPeriod}")
    command = hc.get("command", _MISSING)
    if not (isinstance(command, list) and command and all(isinstance(a, str) for a in command)):
        raise Problem(
            (*path, "command"),
            f'expected a non-empty list of strings such as ["CMD-SHELL", "curl -f '
            f'http://localhost:8080/health"], {_got(command)}',
        )
    if ecs and command[0] not in ("CMD", "CMD-SHELL"):
        raise Problem((*path, "command", 0), f"expected CMD or CMD-SHELL, got {command[0]!r}")
    if command[0] in ("CMD", "CMD-SHELL") and len(command) < 2:
        raise Problem((*path, "command"), f"{command[0]} needs the command after it")
    limits = ECS_HEALTH_LIMITS if ecs else LOCAL_HEALTH_LIMITS
    for key, (low, high) in limits.items():
        if key in hc:
            unit = "times" if key == "retries" else "seconds"
            _int_in((*path, key), hc[key], low, high, _unit(unit, ecs=ecs))


def _mounts(at: tuple[Key, ...], c: Mapping[str, Any], volumes: list[str]) -> None:
    for i, mp in enumerate(_list((*at, "mountPoints"), c.get("mountPoints", _MISSING), "mounts")):
        path = (*at, "mountPoints", i)
        _object(path, mp, "{sourceVolume, containerPath, readOnly}")
        source = mp.get("sourceVolume", _MISSING)
        if source not in volumes:
            declared = ", ".join(volumes) or "none"
            raise Problem(
                (*path, "sourceVolume"),
                f"expected a volume of the task (declared: {declared}), {_got(source)}",
            )
        target = mp.get("containerPath", _MISSING)
        if not (isinstance(target, str) and target.startswith("/")):
            raise Problem((*path, "containerPath"), f"expected an absolute path, {_got(target)}")


def _dependencies(
    ref: Ref, c: Mapping[str, Any], containers: list[tuple[Ref, Mapping[str, Any]]], *, ecs: bool
) -> None:
    by_name = {str(other["name"]): other for _, other in containers}
    at: tuple[Key, ...] = (CD, ref, "dependsOn")
    for i, dep in enumerate(_list(at, c.get("dependsOn", _MISSING), "{containerName, condition}")):
        _object((*at, i), dep, "{containerName, condition}")
        name = dep.get("containerName", _MISSING)
        others = [n for n in by_name if n != ref.name]
        if name not in others:
            raise Problem(
                (*at, i, "containerName"),
                f"expected another container of this task ({', '.join(others) or 'none'}), "
                f"{_got(name)}",
            )
        condition = dep.get("condition", _MISSING if ecs else "START")
        upper = condition.upper() if isinstance(condition, str) and not ecs else condition
        if upper not in DEPENDENCY_CONDITIONS:
            raise Problem(
                (*at, i, "condition"),
                f"expected one of {', '.join(DEPENDENCY_CONDITIONS)}, {_got(condition)}",
            )
        if upper == "HEALTHY" and not by_name[name].get("healthCheck"):
            raise Problem(
                (*at, i, "condition"),
                f"HEALTHY needs a healthCheck on {name!r}, which has none",
            )


def _cycles(containers: list[tuple[Ref, Mapping[str, Any]]]) -> None:
    try:
        dependency_order([dict(c) for _, c in containers])
    except ConfigError as exc:
        chain = exc.message.rsplit("cycle ", 1)[-1].split(" -> ")
        closing = chain[-2] if len(chain) > 1 else chain[0]
        ref = next(r for r, c in containers if c["name"] == closing)
        raise Problem(
            (CD, ref, "dependsOn"),
            f"dependsOn cycle {' -> '.join(chain)}: no container could start first",
        ) from None


def _same_host_ports(containers: list[tuple[Ref, Mapping[str, Any]]], mode: str) -> None:
    for ref, c in containers:
        for i, pm in enumerate(c.get("portMappings") or []):
            if "hostPort" in pm and pm["hostPort"] != pm.get("containerPort"):
                raise Problem(
                    (CD, ref, "portMappings", i, "hostPort"),
                    f"expected the containerPort ({pm.get('containerPort')}) or no hostPort "
                    f"in networkMode {mode}, got {pm['hostPort']!r}",
                )
