"""Containers, networks and volumes of the local target, through python-on-whales (imported
lazily, like adapters/docker.py). Secrets reach a container through an --env-file in the
environment's state directory, created 0600 and deleted as soon as the container is created:
never on a command line, never in /tmp. A file a killed run left is removed by the next one
(`remove_env_files`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import secrets as pysecrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.adapters.docker import CliFailed, DockerEngine, docker_error_text
from shipyard.adapters.ports import free_port
from shipyard.commands import command, docker_network_create, docker_volume_create
from shipyard.container_run import Placement, check_env_entry, docker_run
from shipyard.errors import DeployFailed
from shipyard.records import record
from shipyard.secrets import Secret
from shipyard.taskdef_local import ContainerSpec

LABEL_PREFIX = "dev.shipyard"
LABEL_STACK = f"{LABEL_PREFIX}.stack"
LABEL_ENV = f"{LABEL_PREFIX}.environment"
LABEL_RELEASE = f"{LABEL_PREFIX}.release"
LABEL_VERSION = f"{LABEL_PREFIX}.version"
LABEL_CONTAINER = f"{LABEL_PREFIX}.container"
LABEL_DIGEST = f"{LABEL_PREFIX}.digest"


def _whales() -> Any:
    import python_on_whales

    return python_on_whales


@record
class ContainerState:
    name: str
    status: str  # created, running, exited, ...
    health: str | None  # starting, healthy, unhealthy, or None without a health check
    exit_code: int | None
    last_health_output: str = ""
    first_failed_check: dt.datetime | None = None
    restarts: int = 0  # times Docker's restart policy restarted it


@record
class ContainerInfo:
    name: str
    status: str
    labels: Mapping[str, str]
    image: str  # the reference it was started from

    @property
    def release(self) -> str:
        return self.labels.get(LABEL_RELEASE, "")


@record
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    created: dt.datetime | None


class Containers:
    def __init__(self, engine: DockerEngine) -> None:
        self.engine = engine

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        return self.engine._call(what, fn, failure=DeployFailed)

    @property
    def client(self) -> Any:
        return self.engine.client

    # -- networks and volumes --------------------------------------------------------------
    def ensure_network(self, name: str, labels: Mapping[str, str]) -> None:
        if self._call("network inspect", lambda: self.client.network.exists(name)):
            return
        try:
            self.engine._cli(docker_network_create(name, labels))
        except CliFailed as exc:
            # another process may have created it a moment ago
            if not self.client.network.exists(name):
                raise DeployFailed(f"docker network create {name} failed: {exc}") from None

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> None:
        if self._call("volume inspect", lambda: self.client.volume.exists(name)):
            return
        try:
            self.engine._cli(docker_volume_create(name, labels))
        except CliFailed as exc:
            raise DeployFailed(f"docker volume create failed: {exc}") from None

    def bridge(self, network: str) -> str:
        """The host interface of a bridge network (what the isolation rules name)."""
        found = self._cli_json("network inspect", "network", "inspect", network)
        if not found:
            raise DeployFailed(f"no Docker network named {network}")
        net = found[0]
        if net.get("Driver") != "bridge":
            raise DeployFailed(
                f"Docker network {network} uses the {net.get('Driver')} driver; the local "
                "target keeps only bridge networks from other hosts",
                hint="name a bridge network in target.network, or leave it unset",
            )
        options = net.get("Options") or {}
        return str(options.get("com.docker.network.bridge.name") or f"br-{net['Id'][:12]}")

    def remove_network(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.client.network.remove(name)

    def network_labels(self, name: str) -> dict[str, str] | None:
        """The labels of network `name`; None when there is no such network."""
        if not self._call("network inspect", lambda: self.client.network.exists(name)):
            return None
        network = self._call("network inspect", lambda: self.client.network.inspect(name))
        return dict(network.labels or {})

    def volumes(self, label: str, value: str) -> list[str]:
        """Names of the volumes labelled `label=value`."""
        listed = self._call(
            "volume ls", lambda: self.client.volume.list(filters={"label": f"{label}={value}"})
        )
        return sorted(str(v.name) for v in listed)

    def remove_volumes(self, names: Sequence[str]) -> None:
        if names:
            self._call("volume rm", lambda: self.client.volume.remove(list(names)))

    # -- images ----------------------------------------------------------------------------
    def image_present(self, ref: str) -> bool:
        return self.engine.image_id(ref) is not None

    def images(self, repositories: Sequence[str]) -> list[ImageInfo]:
        wanted = set(repositories)
        found: dict[str, ImageInfo] = {}
        listed: list[Any] = []

        def list_repo(repo: str) -> list[Any]:
            return list(self.client.image.list(repo))

        for repo in sorted(wanted):
            # one `docker image ls REPO` per repository: inspecting every image is slow
            listed += self._call("image ls", functools.partial(list_repo, repo))
        for image in listed:
            tags = tuple(t for t in (image.repo_tags or []) if t.rsplit(":", 1)[0] in wanted)
            digests = [d for d in (image.repo_digests or []) if d.split("@", 1)[0] in wanted]
            if tags or digests:
                found[str(image.id)] = ImageInfo(str(image.id), tags, image.created)
        return list(found.values())

    def remove_image(self, image_id: str) -> str | None:
        """Remove an image with all its tags; the reason when Docker refuses."""
        w = _whales()
        try:
            self.client.image.remove(image_id, force=True, prune=True)
        except w.exceptions.DockerException as exc:
            return docker_error_text(exc)
        return None

    # -- containers ------------------------------------------------------------------------
    def run(
        self,
        spec: ContainerSpec,
        *,
        name: str,
        network: str,
        labels: Mapping[str, str],
        env_file: Path | None,
        pull: bool,
        stop_timeout: int = 10,
    ) -> str:
        """Run the container_run.docker_run command of `spec`, detached; returns its id. Each
        try publishes on free host ports, and a port taken meanwhile is another try; `env_file`
        (from write_env_file) is removed once Docker has read it."""
        try:
            for attempt in range(1, PUBLISH_TRIES + 1):
                where = Placement(
                    name=name,
                    network=network,
                    labels=labels,
                    host_ports=[str(free_port()) for _ in spec.ports],
                    env_file=str(env_file) if env_file else None,
                    pull=pull,
                    stop_timeout=stop_timeout,
                )
                try:
                    return self.engine._cli(docker_run(spec, where), timeout=RUN_TIMEOUT).strip()
                except CliFailed as exc:
                    if attempt == PUBLISH_TRIES or not _port_taken(str(exc)):
                        raise DeployFailed(f"docker run {spec.name} failed: {exc}") from None
                    self.remove([name])  # created, but it could not bind: try another port
        finally:
            if env_file:
                env_file.unlink(missing_ok=True)
        raise AssertionError("unreachable")  # pragma: no cover

    def _cli_json(self, what: str, *args: str) -> list[dict[str, Any]]:
        """One docker CLI call, parsed once. (python-on-whales' Container objects re-inspect
        on every attribute read: several reads would be several calls.)"""
        try:
            out = self.engine._cli(command("docker", *args))
        except CliFailed as exc:
            raise DeployFailed(f"docker {what} failed: {exc}") from None
        if not out:
            return []
        if out.lstrip().startswith("["):
            return list(json.loads(out))
        return [json.loads(line) for line in str(out).splitlines() if line.strip()]

    def inspect(self, name: str) -> dict[str, Any]:
        found = self._cli_json("inspect", "container", "inspect", name)
        if not found:
            raise DeployFailed(f"no container named {name}")
        return found[0]

    def state(self, name: str) -> ContainerState:
        inspected = self.inspect(name)
        st = inspected.get("State") or {}
        health = st.get("Health") or {}
        log = health.get("Log") or []
        failed = [e for e in log if e.get("ExitCode") not in (0, None)]
        first_failed = None
        if failed:
            with contextlib.suppress(ValueError):
                first_failed = dt.datetime.fromisoformat(str(failed[0]["Start"])[:26].rstrip("Z"))
        return ContainerState(
            name=name,
            status=str(st.get("Status") or ""),
            health=str(health["Status"]) if health.get("Status") else None,
            exit_code=st.get("ExitCode"),
            last_health_output=str(log[-1].get("Output") or "").strip() if log else "",
            first_failed_check=first_failed,
            restarts=int(inspected.get("RestartCount") or 0),
        )

    def host_port(self, name: str, container_port: int) -> int:
        ports = (self.inspect(name).get("NetworkSettings") or {}).get("Ports") or {}
        for b in ports.get(f"{container_port}/tcp") or []:
            if b.get("HostPort") and b.get("HostIp") in ("127.0.0.1", None, ""):
                return int(b["HostPort"])
        raise DeployFailed(f"container {name} publishes no host port for {container_port}/tcp")

    def logs_tail(self, name: str, lines: int = 20) -> str:
        w = _whales()
        try:
            return str(self.client.container.logs(name, tail=lines))
        except w.exceptions.DockerException:
            return ""

    def list(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        filters = [a for k, v in labels.items() for a in ("--filter", f"label={k}={v}")]
        rows = self._cli_json(
            "ps", "container", "ls", "--all", "--no-trunc", *filters, "--format", "{{json .}}"
        )
        found: list[ContainerInfo] = []
        for row in rows:
            pairs = [p.split("=", 1) for p in str(row.get("Labels") or "").split(",") if "=" in p]
            found.append(
                ContainerInfo(
                    name=str(row.get("Names", "")),
                    status=str(row.get("State", "")),
                    labels={k: v for k, v in pairs},
                    image=str(row.get("Image", "")),
                )
            )
        return found

    def start(self, names: Sequence[str]) -> None:
        if names:
            self._call("start", lambda: self.client.container.start(list(names)))

    def stop(self, names: Sequence[str]) -> None:
        """docker stop: SIGTERM, then SIGKILL after each container's stop timeout."""
        if names:
            self._call("stop", lambda: self.client.container.stop(list(names)))

    def remove(self, names: Sequence[str]) -> None:
        """Force-remove containers (stopping them if needed); missing ones are fine."""
        w = _whales()
        for name in names:
            try:
                self.client.container.remove(name, force=True, volumes=False)
            except w.exceptions.NoSuchContainer:
                continue
            except w.exceptions.DockerException as exc:
                if "No such container" in docker_error_text(exc):
                    continue
                raise DeployFailed(f"docker rm {name} failed: {docker_error_text(exc)}") from None


PUBLISH_TRIES = 5
RUN_TIMEOUT = 600.0  # seconds: `--pull missing` may download the image first
_PORT_TAKEN = ("port is already allocated", "address already in use")


def _port_taken(message: str) -> bool:
    return any(text in message for text in _PORT_TAKEN)


ENV_FILE_SUFFIX = ".env"


def write_env_file(env_dir: Path, secrets: Mapping[str, Secret]) -> Path:
    """An --env-file readable by its owner only from its first byte (O_EXCL, mode 0600:
    never created wider and narrowed afterwards). Every entry is checked before anything is
    written."""
    for key, value in secrets.items():
        check_env_entry(key, value)
    env_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = env_dir / f"{pysecrets.token_hex(8)}{ENV_FILE_SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for key, value in secrets.items():
            fh.write(f"{key}={value.reveal()}\n")
    return path


def remove_env_files(env_dir: Path) -> int:
    """Remove env files a killed run left; returns how many."""
    removed = 0
    for path in env_dir.glob(f"*{ENV_FILE_SUFFIX}"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed
