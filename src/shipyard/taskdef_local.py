"""From an ECS task definition to containers on this machine's Docker engine (pure).

Each container definition becomes one container. What Docker can honour is mapped field by
field (image, command, entryPoint, environment, secrets, portMappings, healthCheck, essential,
dependsOn, mountPoints, user, workingDirectory, readonlyRootFilesystem, stopTimeout); every
other field is collected into `ignored` so the caller can name them in one warning instead of
dropping them silently.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from shipyard.config.base import SecretRef
from shipyard.errors import ConfigError
from shipyard.records import record

# task-level keys the local target uses or that mean nothing on one machine
_TASK_USED = {"family", "containerDefinitions", "volumes"}
_CONTAINER_USED = {
    "name",
    "image",
    "essential",
    "command",
    "entryPoint",
    "environment",
    "secrets",
    "portMappings",
    "healthCheck",
    "dependsOn",
    "mountPoints",
    "user",
    "workingDirectory",
    "readonlyRootFilesystem",
    "stopTimeout",
    "linuxParameters",
}
DEPENDENCY_CONDITIONS = ("START", "COMPLETE", "SUCCESS", "HEALTHY")


@record
class HealthSpec:
    """Docker's health check, with the task definition's numbers (seconds)."""

    command: str  # what --health-cmd runs (through /bin/sh -c, as Docker's CLI does)
    interval: int = 30
    timeout: int = 5
    retries: int = 3
    start_period: int = 0


@record
class VolumeMount:
    volume: str  # Docker volume name
    path: str
    read_only: bool = False


@record
class ContainerSpec:
    name: str
    image: str
    essential: bool = True
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    environment: tuple[tuple[str, str], ...] = ()
    secrets: tuple[tuple[str, SecretRef], ...] = ()
    ports: tuple[int, ...] = ()  # container ports (tcp), published on 127.0.0.1 ephemeral ports
    health: HealthSpec | None = None
    depends_on: tuple[tuple[str, str], ...] = ()  # (container name, condition)
    mounts: tuple[VolumeMount, ...] = ()
    user: str | None = None
    workdir: str | None = None
    read_only: bool = False
    stop_timeout: int | None = None
    init: bool = False  # linuxParameters.initProcessEnabled: an init process as PID 1


@record
class LocalTask:
    family: str
    containers: tuple[ContainerSpec, ...]  # in start order (dependsOn respected)
    volumes: tuple[str, ...]  # Docker volumes to create
    ignored: tuple[str, ...] = ()  # fields the local target cannot honour
    substituted: tuple[str, ...] = field(default_factory=tuple)  # honoured differently, said so

    def container(self, name: str) -> ContainerSpec:
        return next(c for c in self.containers if c.name == name)


def secret_ref(value_from: str, *, where: str) -> SecretRef:
    """An ECS `valueFrom` as a shipyard reference: env:NAME, file:PATH, an SSM parameter
    (name or ARN) or a Secrets Manager ARN."""
    if value_from.startswith("env:"):
        return SecretRef(env=value_from[4:])
    if value_from.startswith("file:"):
        return SecretRef(file=value_from[5:])
    if value_from.startswith("arn:aws:secretsmanager:"):
        return SecretRef(secretsmanager=value_from)
    if value_from.startswith(("arn:aws:ssm:", "/")):
        return SecretRef(ssm=value_from)
    raise ConfigError(
        f"{where}: valueFrom {value_from!r} is not a secret reference",
        hint="use env:NAME or file:PATH locally, or an SSM / Secrets Manager ARN",
    )


def health_command(command: list[str], *, where: str) -> str:
    if not command:
        raise ConfigError(f"{where}: healthCheck.command is empty")
    kind, rest = command[0], command[1:]
    if kind == "CMD-SHELL":
        return " ".join(rest)
    if kind == "CMD":
        return shlex.join(rest)
    # ECS also accepts a bare command list
    return shlex.join(command)


def dependency_order(containers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_name = {c["name"]: c for c in containers}
    ordered: list[dict[str, Any]] = []
    visiting: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if any(c["name"] == name for c in ordered):
            return
        if name in visiting:
            raise ConfigError(f"task definition: dependsOn cycle {' -> '.join((*chain, name))}")
        visiting.add(name)
        for dep in by_name[name].get("dependsOn", []) or []:
            dep_name = dep.get("containerName")
            if dep_name not in by_name:
                raise ConfigError(
                    f"containerDefinitions[{name}].dependsOn names {dep_name!r}, "
                    "which is not a container of this task definition"
                )
            visit(dep_name, (*chain, name))
        visiting.discard(name)
        ordered.append(by_name[name])

    for c in containers:
        visit(c["name"], ())
    return ordered


def to_local(document: Mapping[str, Any], *, stack: str) -> LocalTask:
    """Map a rendered task definition onto Docker. `stack` prefixes Docker volume names."""
    ignored, substituted = _task_fields(document)
    volume_names, volumes_ignored, volumes_substituted = _volumes(document, stack)
    ignored += volumes_ignored
    substituted += volumes_substituted
    raw = list(document.get("containerDefinitions", []) or [])
    if not raw:
        raise ConfigError("task definition has no containerDefinitions")
    specs: list[ContainerSpec] = []
    for c in dependency_order(raw):
        spec, container_ignored = _container(c, volume_names)
        specs.append(spec)
        ignored += container_ignored
    if not any(s.essential for s in specs):
        raise ConfigError("task definition: at least one container must be essential")
    return LocalTask(
        family=str(document.get("family", "")),
        containers=tuple(specs),
        volumes=tuple(volume_names.values()),
        ignored=tuple(ignored),
        substituted=tuple(substituted),
    )


def _task_fields(document: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(ignored, substituted): the task-level fields the local target does not use as is."""
    ignored: list[str] = []
    substituted: list[str] = []
    for key, value in sorted(document.items()):
        if key in _TASK_USED or value in (None, [], {}, ""):
            continue
        if key == "networkMode":
            substituted.append(
                f"networkMode {value}: containers share a Docker network and reach each other "
                "by container name, not over localhost"
            )
            continue
        ignored.append(f"{key}")
    return ignored, substituted


def _volumes(
    document: Mapping[str, Any], stack: str
) -> tuple[dict[str, str], list[str], list[str]]:
    """(Docker volume name by task volume name, ignored, substituted) for the task's volumes."""
    volume_names: dict[str, str] = {}
    ignored: list[str] = []
    substituted: list[str] = []
    for vol in document.get("volumes", []) or []:
        name = vol.get("name")
        if not name:
            raise ConfigError("task definition: a volume has no name")
        local = f"{stack}-{name}"
        volume_names[name] = local
        for key in sorted(vol):
            if key == "name":
                continue
            if key == "efsVolumeConfiguration":
                substituted.append(
                    f"volumes[{name}].efsVolumeConfiguration: Docker volume {local} instead of EFS"
                )
            elif key in ("host", "dockerVolumeConfiguration"):
                substituted.append(f"volumes[{name}].{key}: Docker volume {local}")
            else:
                ignored.append(f"volumes[{name}].{key}")
    return volume_names, ignored, substituted


def _container(
    c: Mapping[str, Any], volume_names: Mapping[str, str]
) -> tuple[ContainerSpec, list[str]]:
    """One container definition as a ContainerSpec, and the fields of it that are ignored."""
    name = str(c["name"])
    where = f"containerDefinitions[{name}]"
    linux = dict(c.get("linuxParameters") or {})
    ignored = _unused_fields(c, linux, where)
    ports, ports_ignored = _ports(c, where)
    ignored += ports_ignored
    health = _health(c, where)
    deps = _depends_on(c, where)
    mounts = _mounts(c, where, volume_names)
    secrets = tuple(
        (str(s["name"]), secret_ref(str(s["valueFrom"]), where=f"{where}.secrets[{s['name']}]"))
        for s in c.get("secrets", []) or []
    )
    entry = c.get("entryPoint")
    spec = ContainerSpec(
        name=name,
        image=str(c["image"]),
        essential=bool(c.get("essential", True)),
        command=tuple(str(a) for a in c.get("command", []) or []),
        entrypoint=tuple(str(a) for a in entry) if entry else None,
        environment=tuple(
            (str(e["name"]), str(e["value"])) for e in c.get("environment", []) or []
        ),
        secrets=secrets,
        ports=ports,
        health=health,
        depends_on=deps,
        mounts=mounts,
        user=c.get("user"),
        workdir=c.get("workingDirectory"),
        read_only=bool(c.get("readonlyRootFilesystem", False)),
        stop_timeout=c.get("stopTimeout"),
        init=bool(linux.get("initProcessEnabled", False)),
    )
    return spec, ignored


def _unused_fields(c: Mapping[str, Any], linux: Mapping[str, Any], where: str) -> list[str]:
    """The container's fields, and linuxParameters' keys, that Docker is not given."""
    ignored = [
        f"{where}.{key}"
        for key in sorted(c)
        if key not in _CONTAINER_USED and c[key] not in (None, [], {}, "")
    ]
    ignored += [
        f"{where}.linuxParameters.{key}" for key in sorted(linux) if key != "initProcessEnabled"
    ]
    return ignored


def _ports(c: Mapping[str, Any], where: str) -> tuple[tuple[int, ...], list[str]]:
    """The container's tcp ports, and the port mapping fields that are ignored (other
    protocols, fixed host ports, app protocols, port ranges)."""
    ports: list[int] = []
    ignored: list[str] = []
    for pm in c.get("portMappings", []) or []:
        if pm.get("protocol", "tcp") != "tcp":
            ignored.append(f"{where}.portMappings[{pm.get('containerPort')}].protocol")
            continue
        ports.append(int(pm["containerPort"]))
        for extra in ("hostPort", "appProtocol", "containerPortRange"):
            if extra in pm and not (extra == "hostPort" and pm[extra] in (0, pm["containerPort"])):
                ignored.append(f"{where}.portMappings[{pm['containerPort']}].{extra}")
    return tuple(ports), ignored


def _health(c: Mapping[str, Any], where: str) -> HealthSpec | None:
    """Docker's health check for the container's healthCheck, if it has one."""
    hc = c.get("healthCheck")
    if not hc:
        return None
    return HealthSpec(
        command=health_command(list(hc.get("command", [])), where=f"{where}.healthCheck"),
        interval=int(hc.get("interval", 30)),
        timeout=int(hc.get("timeout", 5)),
        retries=int(hc.get("retries", 3)),
        start_period=int(hc.get("startPeriod", 0)),
    )


def _depends_on(c: Mapping[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    """(container name, condition) for each dependsOn entry."""
    deps: list[tuple[str, str]] = []
    for dep in c.get("dependsOn", []) or []:
        cond = str(dep.get("condition", "START")).upper()
        if cond not in DEPENDENCY_CONDITIONS:
            raise ConfigError(f"{where}.dependsOn: unknown condition {cond!r}")
        deps.append((str(dep["containerName"]), cond))
    return tuple(deps)


def _mounts(
    c: Mapping[str, Any], where: str, volume_names: Mapping[str, str]
) -> tuple[VolumeMount, ...]:
    """The container's mount points, onto the Docker volumes of the task's volumes."""
    mounts: list[VolumeMount] = []
    for mp in c.get("mountPoints", []) or []:
        source = mp.get("sourceVolume")
        if source not in volume_names:
            raise ConfigError(f"{where}.mountPoints: volume {source!r} is not declared in volumes")
        mounts.append(
            VolumeMount(volume_names[source], str(mp["containerPath"]), bool(mp.get("readOnly")))
        )
    return tuple(mounts)
