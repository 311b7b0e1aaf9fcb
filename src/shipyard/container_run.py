"""The docker commands of the local target's containers as Command values (pure): `docker run`
of a release's container, a one-off container (`create`, `start --attach`, `rm`), `docker exec`
and `docker logs`. Each is the value a plan prints and the adapter runs.

Secrets never appear here: they reach the container through the `--env-file` named by path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shipyard.commands import Command, command
from shipyard.errors import UsageError
from shipyard.records import record
from shipyard.secrets import Secret
from shipyard.taskdef_local import ContainerSpec


@record
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
    argv += _process(spec, where.env_file)
    for host, port in zip(where.host_ports, spec.ports, strict=True):
        argv += ["--publish", f"127.0.0.1:{host}:{port}"]
    stop_timeout = spec.stop_timeout if spec.stop_timeout is not None else where.stop_timeout
    argv += ["--stop-timeout", str(int(stop_timeout))]
    if spec.essential:
        argv += ["--restart", "unless-stopped"]
    if spec.health:
        h = spec.health
        argv += ["--health-cmd", h.command, "--health-interval", f"{h.interval}s"]
        argv += ["--health-timeout", f"{h.timeout}s", "--health-retries", str(h.retries)]
        argv += ["--health-start-period", f"{h.start_period}s"]
    return command(*argv, *_image_and_args(spec, spec.command))


def docker_create(
    spec: ContainerSpec, args: Sequence[str], where: Placement, *, tty: bool
) -> Command:
    """A one-off container of `spec` running `args` (the entrypoint kept, as ECS's
    containerOverrides keeps it): its environment, secrets (env file), volumes, user and
    working directory, on the stack's network; no published ports, no health check, no
    restart."""
    argv = ["docker", "container", "create", "--name", where.name, "--network", where.network]
    argv += ["--interactive", "--pull", "missing" if where.pull else "never"]
    if tty:
        argv.append("--tty")
    argv += [a for key, value in where.labels.items() for a in ("--label", f"{key}={value}")]
    return command(*argv, *_process(spec, where.env_file), *_image_and_args(spec, args))


def docker_start_attached(name: str) -> Command:
    return command("docker", "container", "start", "--attach", "--interactive", name)


def docker_remove(name: str) -> Command:
    return command("docker", "container", "rm", "--force", name)


def docker_exec(name: str, args: Sequence[str], *, tty: bool) -> Command:
    # stdin is always passed on: `inv exec -- sh -s < script.sh` works as docker exec -i does
    tty_flag = ["--tty"] if tty else []
    return command("docker", "container", "exec", "--interactive", *tty_flag, name, *args)


def docker_logs(name: str, *, since: str | None, follow: bool) -> Command:
    argv = ["docker", "container", "logs", "--timestamps"]
    if since:
        argv += ["--since", since]
    if follow:
        argv.append("--follow")
    return command(*argv, name)


def _process(spec: ContainerSpec, env_file: str | None) -> list[str]:
    """What the container's process gets: environment (the task definition's plain values;
    secrets only through the env file), volumes, a read-only root, user, directory, init."""
    argv = [a for key, value in spec.environment for a in ("--env", f"{key}={value}")]
    if env_file:
        argv += ["--env-file", env_file]
    for mount in spec.mounts:
        argv += ["--volume", f"{mount.volume}:{mount.path}:{'ro' if mount.read_only else 'rw'}"]
    if spec.read_only:
        argv.append("--read-only")
    if spec.user:
        argv += ["--user", spec.user]
    if spec.workdir:
        argv += ["--workdir", spec.workdir]
    if spec.init:
        argv.append("--init")
    return argv


def _image_and_args(spec: ContainerSpec, args: Sequence[str]) -> list[str]:
    """`--entrypoint` (its first word), the image, then the rest of the entrypoint and args."""
    if spec.entrypoint:
        return ["--entrypoint", spec.entrypoint[0], spec.image, *spec.entrypoint[1:], *args]
    return [spec.image, *args]


def check_env_entry(key: str, secret: Secret) -> None:
    """UsageError (exit 2) unless `key=value` is one line Docker's --env-file reads back as
    written. That format has no quoting or escaping: a line break in a value would start
    another variable (an injection), and a NUL cannot be passed at all; so such a value is
    refused, naming the reference, never the value."""
    if not key or any(c in key for c in "=\x00") or any(c.isspace() for c in key):
        raise UsageError(
            f"secret {secret.source or '?'}: {key!r} cannot be an environment variable name"
        )
    found = [name for char, name in _UNSAFE.items() if char in secret.reveal()]
    if found:
        raise UsageError(
            f"secret {secret.source or '?'} for {key} holds {' and '.join(found)}, which "
            "Docker's --env-file cannot carry (it has no quoting)",
            hint="store the value base64-encoded and decode it in the container",
        )


_UNSAFE = {"\n": "a line break", "\r": "a carriage return", "\x00": "a NUL byte"}
