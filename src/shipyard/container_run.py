"""`docker run` of one local container as a Command (pure): the value the local plan prints
and the containers adapter runs.

Secrets never appear here: they reach the container through the `--env-file` named by path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shipyard.commands import Command, command
from shipyard.taskdef_local import ContainerSpec


@dataclass(frozen=True)
class Placement:
    """What `docker run` needs beyond the container's spec: where and as what it runs."""

    name: str
    network: str
    labels: Mapping[str, str]
    host_ports: Sequence[str]  # one per spec port, in order (a port number, or a placeholder)
    env_file: str | None = None
    pull: bool = False
    stop_timeout: int = 10  # seconds `docker stop` waits unless the spec sets its own


def docker_run(spec: ContainerSpec, where: Placement) -> Command:
    """Create and start `spec` detached (docker prints the container id). Essential containers
    restart when they stop, as an ECS service replaces a stopped task; ports are published on
    127.0.0.1 only, each on its fixed host port so a restart answers where nginx routes."""
    argv = ["docker", "run", "--detach", "--name", where.name, "--network", where.network]
    argv += ["--network-alias", spec.name, "--pull", "missing" if where.pull else "never"]
    argv += [a for key, value in where.labels.items() for a in ("--label", f"{key}={value}")]
    argv += [a for key, value in spec.environment for a in ("--env", f"{key}={value}")]
    if where.env_file:
        argv += ["--env-file", where.env_file]
    for mount in spec.mounts:
        argv += ["--volume", f"{mount.volume}:{mount.path}:{'ro' if mount.read_only else 'rw'}"]
    for host, port in zip(where.host_ports, spec.ports, strict=True):
        argv += ["--publish", f"127.0.0.1:{host}:{port}"]
    stop_timeout = spec.stop_timeout if spec.stop_timeout is not None else where.stop_timeout
    argv += ["--stop-timeout", str(int(stop_timeout))]
    argv += _options(spec)
    rest = list(spec.command)
    if spec.entrypoint:
        argv += ["--entrypoint", spec.entrypoint[0]]
        rest = [*spec.entrypoint[1:], *rest]
    return command(*argv, spec.image, *rest)


def _options(spec: ContainerSpec) -> list[str]:
    """Restart policy, health check and process options of `spec`."""
    argv = ["--restart", "unless-stopped"] if spec.essential else []
    if spec.read_only:
        argv.append("--read-only")
    if spec.health:
        h = spec.health
        argv += ["--health-cmd", h.command, "--health-interval", f"{h.interval}s"]
        argv += ["--health-timeout", f"{h.timeout}s", "--health-retries", str(h.retries)]
        argv += ["--health-start-period", f"{h.start_period}s"]
    if spec.user:
        argv += ["--user", spec.user]
    if spec.workdir:
        argv += ["--workdir", spec.workdir]
    if spec.init:
        argv.append("--init")
    return argv
