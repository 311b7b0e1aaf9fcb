"""The local target's containers at work: start a release's containers in dependency order,
wait until Docker reports them healthy, watch them while a release bakes, show why one failed.
Holds no policy: each function returns or raises DeployFailed naming the container."""

from __future__ import annotations

import os
import secrets as pysecrets
import time
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path

from shipyard.adapters.containers import LABEL_STACK, Containers, ContainerState, write_env_file
from shipyard.adapters.isolation import Isolation
from shipyard.config.base import SecretRef
from shipyard.config.targets import LocalTargetConfig
from shipyard.console import Console
from shipyard.errors import DeployFailed, ShipyardError
from shipyard.records import record
from shipyard.rollout import faults
from shipyard.secrets import Secret, redact
from shipyard.taskdef_local import ContainerSpec, LocalTask

POLL_SECONDS = 0.1
LOG_LINES = 20


@record(frozen=False)
class Started:
    spec: ContainerSpec
    name: str


@record(frozen=False)
class Runtime:
    containers: Containers
    cfg: LocalTargetConfig
    stack: str
    network: str
    env_dir: Path
    console: Console
    resolve: Callable[[SecretRef], Secret]
    pullable: Callable[[str], bool]
    isolation: Isolation
    failing: str | None = field(default=None)

    def start(
        self,
        task: LocalTask,
        specs: list[ContainerSpec],
        labels: Callable[[str], Mapping[str, str]],
        name_of: Callable[[str], str],
        started: list[Started],
    ) -> None:
        """Start `specs` (in order, waiting for each dependency's condition); every container
        is appended to `started` before it is created, so an undo finds it."""
        self.containers.ensure_network(self.network, {LABEL_STACK: self.stack})
        # before any container publishes a port: none is reachable from another host first
        ports = [port for spec in task.containers for port in spec.ports]
        self.isolation.apply(self.containers.bridge(self.network), ports)
        for vol in task.volumes:
            self.containers.ensure_volume(vol, {LABEL_STACK: self.stack})
        for spec in specs:
            self._wait_dependencies(spec, started)
            name = name_of(spec.name)
            resolved = {key: self.resolve(ref) for key, ref in spec.secrets}
            self.console.progress(f"starting {spec.name} ({name})")
            started.append(Started(spec, name))
            env_file = write_env_file(self.env_dir, resolved) if resolved else None
            faults.point("inside:start")
            self.containers.run(
                spec,
                name=name,
                network=self.network,
                labels=labels(spec.name),
                env_file=env_file,
                pull=self.pullable(spec.image),
                stop_timeout=self.cfg.stop_timeout_seconds,
            )

    def _wait_dependencies(self, spec: ContainerSpec, started: list[Started]) -> None:
        by_name = {s.spec.name: s for s in started}
        for dep, condition in spec.depends_on:
            if dep not in by_name or condition == "START":
                continue  # skipped (no image here) or already started
            self._wait_for(by_name[dep], condition)

    def _wait_for(self, dep: Started, condition: str) -> None:
        deadline = time.monotonic() + self.cfg.healthy_timeout_seconds
        while time.monotonic() < deadline:
            st = self.containers.state(dep.name)
            if condition == "HEALTHY" and st.health == "healthy":
                return
            if condition in ("COMPLETE", "SUCCESS") and st.status == "exited":
                if condition == "SUCCESS" and st.exit_code != 0:
                    self._fail(dep.name, f"container {dep.spec.name} exited with {st.exit_code}")
                return
            if condition == "HEALTHY" and st.health == "unhealthy":
                self._fail(
                    dep.name, f"container {dep.spec.name} is unhealthy: {st.last_health_output}"
                )
            time.sleep(POLL_SECONDS)
        self._fail(dep.name, f"container {dep.spec.name} did not reach {condition} in time")

    def _fail(self, name: str, message: str, hint: str | None = None) -> None:
        self.failing = name
        raise DeployFailed(message, hint=hint)

    def problem(self, s: Started, st: ContainerState) -> str | None:
        """Why an essential container is not fit to serve, or None."""
        if st.restarts:
            return f"essential container {s.spec.name} stopped and was restarted {st.restarts}x"
        if st.status in ("exited", "dead", "restarting"):
            return f"essential container {s.spec.name} exited with code {st.exit_code}"
        if st.health == "unhealthy":
            why = st.last_health_output or "its health check failed"
            return f"container {s.spec.name} is unhealthy: {why}"
        return None

    def wait_healthy(self, started: list[Started]) -> None:
        deadline = time.monotonic() + self.cfg.healthy_timeout_seconds
        warned: set[str] = set()
        while True:
            pending = []
            for s in started:
                st = self.containers.state(s.name)
                if not s.spec.essential:
                    if st.status in ("exited", "dead") and s.name not in warned:
                        warned.add(s.name)
                        self.console.warn(
                            f"non-essential container {s.spec.name} exited ({st.exit_code})"
                        )
                    continue
                problem = self.problem(s, st)
                if problem:
                    self._fail(s.name, problem)
                if st.health not in (None, "healthy") or st.status != "running":
                    pending.append(s)
            if not pending:
                return
            if time.monotonic() >= deadline:
                names = ", ".join(s.spec.name for s in pending)
                self._fail(
                    pending[0].name,
                    f"{names} not healthy after {self.cfg.healthy_timeout_seconds:.0f}s",
                    hint="raise target.healthy_timeout_seconds or check the health check",
                )
            time.sleep(POLL_SECONDS)

    def bake(self, started: list[Started], until: float, probe: Callable[[], str | None]) -> None:
        """Until `until`: every essential container keeps running without a restart, and the
        public checks keep passing (probed about once a second)."""
        next_probe = 0.0
        while True:
            for s in started:
                if s.spec.essential:
                    problem = self.problem(s, self.containers.state(s.name))
                    if problem:
                        self._fail(s.name, f"while baking: {problem}")
            now = time.monotonic()
            if now >= until:
                return
            if now >= next_probe:
                failed = probe()
                if failed:
                    raise DeployFailed(f"while baking: {failed}")
                next_probe = time.monotonic() + 1.0
            time.sleep(min(POLL_SECONDS * 2, max(until - time.monotonic(), 0.0)))

    def show_logs(self, started: list[Started], err: object) -> None:
        names = [self.failing] if self.failing else [s.name for s in started if s.spec.essential]
        for name in names:
            if not name:
                continue
            logs = self.containers.logs_tail(name, LOG_LINES).rstrip()
            try:
                health = self.containers.state(name).last_health_output
            except ShipyardError:
                health = ""
            lines = [f"--- last {LOG_LINES} log lines of {name} ---", logs or "(no output)"]
            if health:
                lines.append(f"--- last health check of {name}: {health}")
            print(redact("\n".join(lines)), file=err, flush=True)  # type: ignore[call-overload]


def generated_secret(path: Path) -> str:
    """Create a local development secret 0600 from its first byte."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    value = pysecrets.token_urlsafe(24)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value
