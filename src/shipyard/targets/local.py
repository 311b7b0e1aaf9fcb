"""The local target: the task definition's containers on this machine's Docker engine,
blue/green behind an nginx that shipyard runs in the environment's state directory.

deploy: start new -> wait until Docker reports healthy -> verify the new containers directly
-> switch nginx's upstream -> verify through the proxy -> drain -> stop old. A failure before
the switch removes the new containers (the old ones never stopped serving); a failure after it
switches back. Every step is recorded in the environment's history (history.py).
"""

from __future__ import annotations

import contextlib
import re
import secrets as pysecrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard import interrupts
from shipyard.adapters.containers import (
    LABEL_CONTAINER,
    LABEL_ENV,
    LABEL_RELEASE,
    LABEL_STACK,
    LABEL_VERSION,
    Containers,
)
from shipyard.adapters.nginx import NginxProxy, Upstream
from shipyard.config.base import SecretRef
from shipyard.config.targets import LocalTargetConfig
from shipyard.errors import DeployFailed, RolledBack, ShipyardError, UsageError, VerifyFailed
from shipyard.fsutil import write_json_atomically
from shipyard.history import (
    History,
    HistoryState,
    RecordOutcome,
    Release,
    current_actor,
    new_release_id,
    now_iso,
)
from shipyard.plan import Plan
from shipyard.secrets import Secret, redact
from shipyard.targets.base import Artifact, DeployOptions, DeployResult, StatusReport
from shipyard.targets.local_spec import ContainerSpec, LocalTask, to_local

if TYPE_CHECKING:
    from shipyard.context import Context

POLL_SECONDS = 0.1
LOG_LINES = 20


def stack_name(ctx: Context) -> str:
    cfg = _cfg(ctx)
    if cfg.stack:
        return cfg.stack
    raw = f"{ctx.config.image.repository}-{ctx.environment}"
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", raw).strip("-.") or "shipyard"


def _cfg(ctx: Context) -> LocalTargetConfig:
    target = ctx.config.target
    if not isinstance(target, LocalTargetConfig):
        raise UsageError(f"environment {ctx.environment!r} is not a local environment")
    return target


@dataclass
class _Started:
    spec: ContainerSpec
    name: str


class LocalTarget:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.cfg = _cfg(ctx)
        self.stack = stack_name(ctx)
        self.network = self.cfg.network or f"shipyard-{self.stack}"
        # not ctx.state_dir: reading status or planning must not create anything
        self.state_path = ctx.root / ".shipyard" / ctx.environment
        self.proxy = NginxProxy(
            self.state_path,
            bind=self.cfg.proxy_bind,
            port=self.cfg.proxy_port,
            binary=self.cfg.nginx,
        )
        self.history = History(self.state_path, ctx.environment)
        self._containers: Containers | None = None
        self._failing: str | None = None

    # -- helpers ---------------------------------------------------------------------------
    @property
    def containers(self) -> Containers:
        if self._containers is None:
            self._containers = Containers(self.ctx.docker)
        return self._containers

    @property
    def url(self) -> str:
        return self.ctx.config.verify.url or self.proxy.url

    @property
    def console(self) -> Any:
        return self.ctx.console

    def container_name(self, release_id: str, container: str) -> str:
        return f"{self.stack}-{release_id}-{container}"

    def render(self, image: str | None) -> tuple[dict[str, Any], str]:
        from shipyard.taskdef import render

        tcfg = self.ctx.config.taskdef
        overlays: list[str] = []
        overlay = tcfg.overlay or f"deploy/taskdef/{self.ctx.environment}.json"
        if tcfg.overlay or (self.ctx.root / overlay).is_file():
            overlays.append(overlay)
        aws = self.ctx.config.aws
        rendered = render(
            self.ctx.root,
            base=tcfg.base,
            overlays=overlays,
            container=tcfg.container,
            image=image,
            variables={
                "environment": self.ctx.environment,
                "region": aws.region,
                "account_id": aws.account_id or "000000000000",
                "version": "",
                "service": self.stack,
            },
        )
        return rendered.document, rendered.digest

    def _task(self, document: dict[str, Any]) -> LocalTask:
        task = to_local(document, stack=self.stack)
        app = self.ctx.config.taskdef.container
        spec = task.container(app)
        if not spec.ports:
            raise UsageError(
                f"container {app!r} has no portMappings: nothing for nginx to route to",
                hint="add a tcp portMappings entry to the task definition",
            )
        return task

    @contextmanager
    def _locked(self, opts: DeployOptions, message: str) -> Iterator[None]:
        if opts.lock_held:
            yield
            return
        from shipyard.locking import get_lock

        lock = get_lock(self.ctx)
        lock.acquire(opts.message or message, wait=opts.lock_wait)
        try:
            left = getattr(lock, "stale", None)
            if left is not None:
                self.console.warn(
                    f"took over the deploy lock left by {left.owner} (that process is gone)"
                )
            yield
        finally:
            lock.release()

    def _labels(self, release: Release, container: str | None = None) -> dict[str, str]:
        labels = {
            LABEL_STACK: self.stack,
            LABEL_ENV: self.ctx.environment,
            LABEL_RELEASE: release.release_id,
            LABEL_VERSION: release.version,
            "dev.shipyard.digest": release.digest,
        }
        if container:
            labels[LABEL_CONTAINER] = container
        return labels

    def _resolve_secret(self, ref: SecretRef) -> Secret:
        """Resolve a reference; a file reference inside this environment's state directory
        that does not exist yet is created with a random value (local development only)."""
        if ref.file:
            path = Path(ref.file)
            path = path if path.is_absolute() else self.ctx.root / path
            inside = path.resolve().is_relative_to(self.state_path.resolve())
            if inside and not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(pysecrets.token_urlsafe(24) + "\n")
                path.chmod(0o600)
                self.console.progress(f"generated a local development secret in {path}")
        return self.ctx.secret(ref)

    def _pullable(self, image: str) -> bool:
        server = self.ctx.config.registry.url if self.ctx.config.registry.kind == "oci" else ""
        server = re.sub(r"^https?://", "", str(server)).rstrip("/")
        return self.cfg.pull_missing_images or (bool(server) and image.startswith(server + "/"))

    def _runnable(self, task: LocalTask) -> tuple[list[ContainerSpec], list[str]]:
        """The containers to start, and the non-essential ones skipped for want of an image."""
        run: list[ContainerSpec] = []
        skipped: list[str] = []
        for spec in task.containers:
            if self.containers.image_present(spec.image) or self._pullable(spec.image):
                run.append(spec)
            elif spec.essential:
                raise DeployFailed(
                    f"essential container {spec.name!r}: image {spec.image} is not on this machine "
                    "and shipyard pulls only from the configured registry here",
                    hint="push it to the registry, load it with docker, or set "
                    "target.pull_missing_images = true",
                )
            else:
                skipped.append(f"{spec.name} ({spec.image} is not on this machine)")
        return run, skipped

    def _warn_unsupported(self, task: LocalTask, skipped: list[str]) -> None:
        parts: list[str] = []
        if task.ignored:
            parts.append("not honoured here: " + ", ".join(task.ignored))
        if task.substituted:
            parts.append("honoured differently: " + "; ".join(task.substituted))
        if skipped:
            parts.append("non-essential containers skipped: " + ", ".join(skipped))
        if parts:
            self.console.warn("local target: " + " | ".join(parts))

    # -- deploy ----------------------------------------------------------------------------
    def plan(self, task: LocalTask, version: str, image: str, *, kind: str = "deploy") -> Plan:
        p = Plan(f"{kind} {version} to {self.ctx.environment} (local, blue/green behind nginx)")
        p.add("lock", f"{self.state_path / 'deploy.lock'}")
        p.add("network", self.network, ["docker", "network", "create", self.network])
        for vol in task.volumes:
            p.add("volume", vol, ["docker", "volume", "create", vol])
        for spec in task.containers:
            argv = [
                "docker",
                "run",
                "--detach",
                "--name",
                self.container_name("<release>", spec.name),
                "--network",
                self.network,
            ]
            argv += [a for port in spec.ports for a in ("--publish", f"127.0.0.1::{port}")]
            if spec.health:
                argv += [
                    "--health-cmd",
                    spec.health.command,
                    "--health-interval",
                    f"{spec.health.interval}s",
                    "--health-timeout",
                    f"{spec.health.timeout}s",
                    "--health-retries",
                    str(spec.health.retries),
                    "--health-start-period",
                    f"{spec.health.start_period}s",
                ]
            argv.append(spec.image if spec.name != self.ctx.config.taskdef.container else image)
            detail = (
                "essential" if spec.essential else "non-essential (skipped if its image is missing)"
            )
            p.add("start", f"{spec.name}: {detail}", argv)
        p.add(
            "wait healthy",
            f"until Docker reports healthy (at most {self.cfg.healthy_timeout_seconds:.0f}s)",
        )
        p.add("verify direct", "configured checks against the new containers' published port")
        p.add(
            "switch",
            f"nginx {self.proxy.url} -> new release",
            ["nginx", "-p", str(self.proxy.prefix), "-c", str(self.proxy.conf), "-s", "reload"],
        )
        p.add("verify", f"configured checks through {self.url}")
        p.add("drain", f"{self.cfg.drain_seconds:g}s, then stop the previous release's containers")
        if task.ignored or task.substituted:
            p.notes.append("not honoured here: " + ", ".join(task.ignored or ["-"]))
        return p

    def deploy(self, artifact: Artifact, opts: DeployOptions) -> DeployResult:
        document, _ = self.render(artifact.image)
        task = self._task(document)
        if opts.dry_run:
            return DeployResult(
                self.ctx.environment,
                artifact.version,
                artifact.digest,
                "planned",
                url=self.url,
                plan=self.plan(task, artifact.version, artifact.image),
            )
        with self._locked(opts, f"deploy {artifact.version}"):
            return self._release(document, artifact, kind="deploy", opts=opts)

    def _release(
        self,
        document: dict[str, Any],
        artifact: Artifact,
        *,
        kind: str,
        opts: DeployOptions,
        message: str = "",
    ) -> DeployResult:
        from shipyard.operations import verify as verify_op
        from shipyard.taskdef import content_hash

        started_at = time.monotonic()
        task = self._task(document)
        self.ctx.docker.ping()
        self.ctx.state_dir.mkdir(parents=True, exist_ok=True)
        self.reconcile()
        state = self.history.read()
        live = state.live_release if self._release_running(state.live) else None
        release = Release(
            release_id=new_release_id(),
            version=artifact.version,
            digest=artifact.digest,
            image=artifact.image,
            taskdef_hash=content_hash(document),
            commit=artifact.revision,
            actor=opts.actor or _actor(self.ctx),
            started_at=now_iso(),
            kind="rollback" if kind == "rollback" else "deploy",
            message=message or opts.message,
            image_id=self.ctx.docker.image_id(artifact.image) or "",
            replaces=live.release_id if live else None,
        )
        self.history.begin(release)
        write_json_atomically(
            self.state_path / "releases" / f"{release.release_id}.json",
            {"artifact": artifact.__dict__, "document": document},
        )
        self.console.progress(
            f"{kind} {artifact.version} as release {release.release_id}"
            + (f" (live: {live.version}, {live.release_id})" if live else " (nothing live yet)")
        )
        started: list[_Started] = []
        switched = False
        self._failing = None
        try:
            specs, skipped = self._runnable(task)
            self._warn_unsupported(task, skipped)
            self.containers.ensure_network(self.network, {LABEL_STACK: self.stack})
            for vol in task.volumes:
                self.containers.ensure_volume(vol, {LABEL_STACK: self.stack})
            for spec in specs:
                self._wait_dependencies(spec, started)
                name = self.container_name(release.release_id, spec.name)
                resolved = {key: self._resolve_secret(ref) for key, ref in spec.secrets}
                self.console.progress(f"starting {spec.name} ({name})")
                started.append(_Started(spec, name))
                self.containers.run(
                    spec,
                    name=name,
                    network=self.network,
                    labels=self._labels(release, spec.name),
                    secrets=resolved,
                    pull=self._pullable(spec.image),
                    stop_timeout=self.cfg.stop_timeout_seconds,
                )
            self._wait_healthy(started)
            app = self.ctx.config.taskdef.container
            app_name = self.container_name(release.release_id, app)
            host_port = self.containers.host_port(app_name, task.container(app).ports[0])
            direct = f"http://127.0.0.1:{host_port}"
            checked = verify_op.run(
                verify_op.VerifyOptions(direct, artifact.version, warmup_seconds=0),
                self.ctx.config.verify,
                console=self.console,
            )
            if not checked.ok:
                verify_op.show(
                    checked, self.console, title=f"verify {direct} (new release, direct)"
                )
                self._failing = app_name
                bad = next(c for c in checked.checks if not c.ok)
                raise VerifyFailed(f"the new release failed {bad.name} on {direct}: {bad.detail}")
            if not self.proxy.running():
                self.proxy.ensure_started(self._upstream(live))
            self.console.progress(f"switching {self.proxy.url} to {release.release_id}")
            self.proxy.switch(Upstream(release.release_id, "127.0.0.1", host_port))
            switched = True
            self.history.set_live(release.release_id)
            through = verify_op.run(
                verify_op.VerifyOptions(self.url, artifact.version),
                self.ctx.config.verify,
                console=self.console,
            )
            if not through.ok:
                verify_op.show(through, self.console, title=f"verify {self.url}")
                bad = next(c for c in through.checks if not c.ok)
                raise VerifyFailed(f"through the proxy, {bad.name} failed: {bad.detail}")
            if self.cfg.drain_seconds and live:
                self.console.progress(f"draining {live.release_id} for {self.cfg.drain_seconds:g}s")
                time.sleep(self.cfg.drain_seconds)
            self._stop_others(keep=release.release_id)
            self.history.finish(
                release.release_id,
                "succeeded",
                live=release.release_id,
                host_port=host_port,
                containers=[s.name for s in started],
            )
        except BaseException as exc:
            with interrupts.cleanup_section():
                self._undo(exc, release, live, started, switched)
            if isinstance(exc, ShipyardError) and switched:
                back = (
                    f"switched back to {live.version} ({live.release_id})"
                    if live
                    else "no previous release to return to"
                )
                raise RolledBack(
                    f"release {artifact.version} failed after the switch: {exc.message}; {back}"
                ) from exc
            if isinstance(exc, DeployFailed) and not isinstance(exc, RolledBack):
                still = f"{live.version} is still serving" if live else "nothing was live before"
                raise type(exc)(f"{exc.message}; {still}", hint=exc.hint) from exc
            raise
        seconds = time.monotonic() - started_at
        self.console.progress(
            f"release {release.release_id} ({artifact.version}) is live at {self.url}"
        )
        return DeployResult(
            self.ctx.environment,
            artifact.version,
            artifact.digest,
            "succeeded",
            release_id=release.release_id,
            url=self.url,
            seconds=seconds,
            details={
                "host_port": host_port,
                "containers": [s.name for s in started],
                "replaces": release.replaces,
                "kind": release.kind,
                # the configured checks already passed through the proxy after the switch
                "verified": True,
            },
        )

    def _undo(
        self,
        exc: BaseException,
        release: Release,
        live: Release | None,
        started: list[_Started],
        switched: bool,
    ) -> None:
        interrupted = interrupts.is_interrupt(exc)
        if switched:
            try:
                self.proxy.switch(self._upstream(live))
            except ShipyardError as err:
                self.console.error(f"could not switch back: {err.one_line()}")
        if isinstance(exc, DeployFailed) and not switched:
            self._show_logs(started)
        try:
            self.containers.remove([s.name for s in started])
        except ShipyardError as err:
            self.console.error(f"could not remove the new containers: {err.one_line()}")
        outcome: RecordOutcome = (
            "interrupted" if interrupted else ("rolled_back" if switched else "failed")
        )
        reason = (
            "interrupted"
            if interrupted
            else (exc.message if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}")
        )
        with contextlib.suppress(ShipyardError, OSError):
            self.history.finish(
                release.release_id,
                outcome,
                message=reason,
                live=live.release_id if live else None,
            )

    def _show_logs(self, started: list[_Started]) -> None:
        names = [self._failing] if self._failing else [s.name for s in started if s.spec.essential]
        for name in names:
            if not name:
                continue
            logs = self.containers.logs_tail(name, LOG_LINES).rstrip()
            try:
                health = self.containers.state(name).last_health_output
            except ShipyardError:
                health = ""
            # stderr: stdout may be carrying --json
            lines = [f"--- last {LOG_LINES} log lines of {name} ---", logs or "(no output)"]
            if health:
                lines.append(f"--- last health check of {name}: {health}")
            print(redact("\n".join(lines)), file=self.console.err, flush=True)

    def _upstream(self, release: Release | None) -> Upstream | None:
        if release is None:
            return None
        app = self.ctx.config.taskdef.container
        name = self.container_name(release.release_id, app)
        document = self._document(release.release_id)
        port = to_local(document, stack=self.stack).container(app).ports[0]
        return Upstream(release.release_id, "127.0.0.1", self.containers.host_port(name, port))

    def _document(self, release_id: str) -> dict[str, Any]:
        import json

        path = self.state_path / "releases" / f"{release_id}.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())["document"]
        except (OSError, ValueError, KeyError):
            raise DeployFailed(
                f"the task definition of release {release_id} is missing ({path})",
                hint="deploy that version again instead",
            ) from None
        return data

    def _wait_dependencies(self, spec: ContainerSpec, started: list[_Started]) -> None:
        by_name = {s.spec.name: s for s in started}
        for dep, condition in spec.depends_on:
            if dep not in by_name or condition == "START":
                continue  # skipped (no image here) or already started
            self._wait_for(by_name[dep], condition)

    def _wait_for(self, dep: _Started, condition: str) -> None:
        deadline = time.monotonic() + self.cfg.healthy_timeout_seconds
        while time.monotonic() < deadline:
            st = self.containers.state(dep.name)
            if condition == "HEALTHY" and st.health == "healthy":
                return
            if condition in ("COMPLETE", "SUCCESS") and st.status == "exited":
                if condition == "SUCCESS" and st.exit_code != 0:
                    self._failing = dep.name
                    raise DeployFailed(f"container {dep.spec.name} exited with {st.exit_code}")
                return
            if condition == "HEALTHY" and st.health == "unhealthy":
                self._failing = dep.name
                raise DeployFailed(
                    f"container {dep.spec.name} is unhealthy: {st.last_health_output}"
                )
            time.sleep(POLL_SECONDS)
        self._failing = dep.name
        raise DeployFailed(f"container {dep.spec.name} did not reach {condition} in time")

    def _wait_healthy(self, started: list[_Started]) -> None:
        deadline = time.monotonic() + self.cfg.healthy_timeout_seconds
        essential = [s for s in started if s.spec.essential]
        warned: set[str] = set()
        while True:
            pending = []
            for s in started:
                st = self.containers.state(s.name)
                if st.status in ("exited", "dead"):
                    if s.spec.essential:
                        self._failing = s.name
                        raise DeployFailed(
                            f"essential container {s.spec.name} exited with code {st.exit_code}"
                        )
                    if s.name not in warned:
                        warned.add(s.name)
                        self.console.warn(
                            f"non-essential container {s.spec.name} exited ({st.exit_code})"
                        )
                    continue
                if not s.spec.essential:
                    continue
                if st.health == "unhealthy":
                    self._failing = s.name
                    raise DeployFailed(
                        f"container {s.spec.name} is unhealthy: "
                        f"{st.last_health_output or 'its health check failed'}"
                    )
                if st.health not in (None, "healthy") or st.status != "running":
                    pending.append(s.spec.name)
            if not pending:
                return
            if time.monotonic() >= deadline:
                self._failing = next((s.name for s in essential if s.spec.name in pending), None)
                raise DeployFailed(
                    f"{', '.join(pending)} not healthy after "
                    f"{self.cfg.healthy_timeout_seconds:.0f}s",
                    hint="raise target.healthy_timeout_seconds or check the health check",
                )
            time.sleep(POLL_SECONDS)

    def _stop_others(self, keep: str) -> None:
        others = [
            c.name
            for c in self.containers.list({LABEL_STACK: self.stack})
            if c.release != keep and c.status == "running"
        ]
        if others:
            self.console.progress(f"stopping {len(others)} container(s) of the previous release")
            self.containers.stop(others)

    def _release_running(self, release_id: str | None) -> bool:
        if release_id is None:
            return False
        app = self.container_name(release_id, self.ctx.config.taskdef.container)
        try:
            return self.containers.state(app).status == "running"
        except ShipyardError:
            return False

    # -- reconcile -------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Put things straight after a process was killed mid-deploy (caller holds the lock):
        finish its record as interrupted, route nginx to the last release that really runs,
        remove containers of releases that never went live."""
        left = self.history.mark_interrupted()
        for r in left:
            self.console.warn(
                f"release {r.release_id} ({r.version}) was interrupted; cleaning up after it"
            )
        state = self.history.read()
        live = state.live_release
        if live is not None and (
            live.outcome not in ("succeeded", "in_progress")
            or not self._release_running(live.release_id)
        ):
            # killed between the switch and its last record: go back to what it replaced
            fallback = state.get(live.replaces)
            if (
                fallback
                and fallback.outcome == "succeeded"
                and self._release_running(fallback.release_id)
            ):
                self.console.warn(f"routing back to {fallback.version} ({fallback.release_id})")
                live = fallback
            elif not self._release_running(live.release_id):
                live = None
        upstream = self._upstream(live) if live else None
        if not self.proxy.running():
            self.proxy.ensure_started(upstream)
        elif self.proxy.serving() != (live.release_id if live else "none"):
            self.proxy.switch(upstream)
        self.history.set_live(live.release_id if live else None)
        keep = {live.release_id} if live else set()
        good = {r.release_id for r in state.releases if r.outcome == "succeeded"}
        leftovers = [
            c.name
            for c in self.containers.list({LABEL_STACK: self.stack})
            if c.release not in keep and c.release not in good
        ]
        if leftovers:
            self.containers.remove(leftovers)
        if live is not None:
            self._stop_others(keep=live.release_id)

    # -- rollback --------------------------------------------------------------------------
    def rollback_choice(self, to: str | None, state: HistoryState) -> Release:
        live = state.live_release
        if to:
            chosen = state.latest_succeeded(to)
            if chosen is None:
                ok = ", ".join(state.succeeded_versions()) or "none yet"
                raise UsageError(
                    f"version {to} never succeeded in {self.ctx.environment}",
                    hint=f"versions that did: {ok}",
                )
        else:
            found = state.rollback_target()
            if found is None:
                raise UsageError(
                    f"no previous good release to roll back to in {self.ctx.environment}",
                    hint="inv status --env " + self.ctx.environment + " lists the history",
                )
            chosen = found
        if live is not None and chosen.digest == live.digest:
            raise UsageError(f"version {chosen.version} is already live in {self.ctx.environment}")
        return chosen

    def rollback(self, to: str | None, opts: DeployOptions) -> DeployResult:
        state = self.history.read()
        chosen = self.rollback_choice(to, state)
        document = self._document(chosen.release_id)
        artifact = Artifact(chosen.version, chosen.image, chosen.digest, chosen.commit)
        if opts.dry_run:
            return DeployResult(
                self.ctx.environment,
                chosen.version,
                chosen.digest,
                "planned",
                url=self.url,
                plan=self.plan(self._task(document), chosen.version, chosen.image, kind="rollback"),
            )
        with self._locked(opts, f"rollback to {chosen.version}"):
            state = self.history.read()
            chosen = self.rollback_choice(to, state)
            return self._release(
                self._document(chosen.release_id),
                artifact,
                kind="rollback",
                opts=opts,
                message=opts.message or f"rollback to {chosen.version} ({chosen.release_id})",
            )

    def abort(self, result: DeployResult, reason: str, opts: DeployOptions) -> DeployResult:
        """Undo a deploy that went live but failed a later check: return to the release it
        replaced and record it as rolled back."""
        with self._locked(opts, f"abort {result.version}"):
            state = self.history.read()
            record = state.get(result.release_id)
            previous = state.get(record.replaces) if record else None
            if previous is None:
                self.proxy.switch(None)
                self.containers.remove(
                    [c.name for c in self.containers.list({LABEL_RELEASE: result.release_id})]
                )
                self.history.finish(result.release_id, "rolled_back", message=reason, live=None)
                raise RolledBack(f"{reason}; nothing was live before, the proxy now answers 503")
            back = self._release(
                self._document(previous.release_id),
                Artifact(previous.version, previous.image, previous.digest, previous.commit),
                kind="rollback",
                opts=DeployOptions(lock_held=True, actor=opts.actor),
                message=f"automatic rollback: {reason}",
            )
            self.history.finish(result.release_id, "rolled_back", message=reason)
            return back

    # -- status ----------------------------------------------------------------------------
    def status(self) -> StatusReport:
        state = self.history.read()
        live = state.live_release
        live_info: dict[str, Any] | None = None
        if live is not None:
            live_info = {
                "release_id": live.release_id,
                "version": live.version,
                "digest": live.digest,
                "image": live.image,
                "since": live.finished_at or live.started_at,
                "commit": live.commit,
                "actor": live.actor,
                "kind": live.kind,
                "outcome": live.outcome,
                "taskdef_hash": live.taskdef_hash,
            }
            containers = []
            with contextlib.suppress(ShipyardError):
                for c in self.containers.list({LABEL_RELEASE: live.release_id}):
                    st = self.containers.state(c.name)
                    containers.append({"name": c.name, "status": st.status, "health": st.health})
            live_info["containers"] = containers
        serving = self.proxy.serving(timeout=1.0) if self.proxy.running() else None
        target = None
        with contextlib.suppress(ShipyardError):
            target = state.rollback_target()
        history = [
            {
                **r.as_dict(),
                "live": r.release_id == state.live,
                "rollback_target": target is not None and r.release_id == target.release_id,
            }
            for r in state.newest_first()
        ]
        report = StatusReport(self.ctx.environment, self.url, live_info, history)
        if live_info is not None:
            live_info["proxy"] = {
                "url": self.proxy.url,
                "running": serving is not None,
                "serving": serving,
            }
        return report


def _actor(ctx: Context) -> str:
    return current_actor(ctx.environ)
