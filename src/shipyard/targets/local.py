"""The local target: the task definition's containers on this machine's Docker engine,
blue/green behind an nginx that shipyard runs in the environment's state directory.

Phases for the rollout engine: prepare (render, check the proxy port) -> start the new
containers -> wait until Docker reports them healthy -> [engine: verify them directly] ->
shift nginx's upstream -> [engine: verify through nginx] -> bake (the old release still runs)
-> finalize (stop the old release). `undo` routes nginx back to what served before, starting
its containers again if they were stopped; `discard` removes what never served. What serves is
observed from nginx (it answers /.shipyard/release) and the containers (local_truth.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shipyard.adapters.containers import (
    LABEL_CONTAINER,
    LABEL_DIGEST,
    LABEL_ENV,
    LABEL_RELEASE,
    LABEL_STACK,
    LABEL_VERSION,
    Containers,
    remove_env_files,
)
from shipyard.adapters.isolation import Isolation
from shipyard.adapters.nginx import NginxProxy, Upstream
from shipyard.config.base import SecretRef
from shipyard.config.targets import LocalTargetConfig
from shipyard.errors import DeployFailed, UsageError
from shipyard.fsutil import write_json_atomically
from shipyard.history import History, Release, current_actor, new_release_id, now_iso
from shipyard.locking import Lock, get_lock
from shipyard.plan import Plan
from shipyard.rollout import faults
from shipyard.rollout.model import Attempt, Mark, Outcome, Serving
from shipyard.secrets import Secret
from shipyard.targets.base import Artifact, StatusReport
from shipyard.targets.local_plan import local_plan
from shipyard.targets.local_runtime import Runtime, Started, generated_secret
from shipyard.targets.local_truth import LocalTruth
from shipyard.taskdef import content_hash, render
from shipyard.taskdef_local import ContainerSpec, LocalTask, to_local

if TYPE_CHECKING:
    from shipyard.context import Context
    from shipyard.taskdef import Rendered


def stack_name(ctx: Context) -> str:
    """The names of this environment's containers, network and volumes: unique per checkout,
    so two clones of one project on a machine never touch each other's containers."""
    cfg = _cfg(ctx)
    if cfg.stack:
        return cfg.stack
    checkout = hashlib.sha256(str(ctx.root.resolve()).encode()).hexdigest()[:6]
    raw = f"{ctx.config.image.repository}-{ctx.environment}-{checkout}"
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", raw).strip("-.") or f"shipyard-{checkout}"


def _cfg(ctx: Context) -> LocalTargetConfig:
    target = ctx.config.target
    if not isinstance(target, LocalTargetConfig):
        raise UsageError(f"environment {ctx.environment!r} is not a local environment")
    return target


class LocalTarget:
    kind = "local"
    detaches = False  # nginx switches in this process: --no-wait still waits

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.environment = ctx.environment
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
        self.containers = Containers(ctx.docker)
        self.isolation = Isolation(self.stack, engine_version=ctx.docker.ping)
        self.app = ctx.config.taskdef.container
        self.truth = LocalTruth(self)
        self.runtime = Runtime(
            self.containers,
            self.cfg,
            self.stack,
            self.network,
            self.state_path / "run",
            ctx.console,
            self._resolve_secret,
            self._pullable,
            self.isolation,
        )

    # -- what the engine asks ------------------------------------------------------------------
    @property
    def bake_seconds(self) -> float:
        return self.cfg.bake_seconds

    @property
    def public_url(self) -> str | None:
        return self.ctx.config.verify.url or self.proxy.url

    def lock(self) -> Lock:
        return get_lock(self.ctx)

    def observe(self) -> Serving:
        return self.truth.observe()

    def reconcile(self, observed: Serving, *, follow: str | None = None) -> list[str]:
        del follow  # a local rollout never outlives its process
        return self.truth.reconcile(observed)

    def status(self) -> StatusReport:
        return self.truth.status()

    def rollback_artifact(self, observed: Serving, to: str | None) -> Artifact:
        return self.truth.rollback_artifact(observed, to)

    # -- rendering -----------------------------------------------------------------------------
    def container_name(self, release_id: str, container: str) -> str:
        return f"{self.stack}-{release_id}-{container}"

    def render(self, image: str | None) -> dict[str, Any]:
        return self.rendered(image).document

    def overlays(self) -> list[str]:
        """The environment's overlay: taskdef.overlay, else deploy/taskdef/<env>.json if any."""
        tcfg = self.ctx.config.taskdef
        overlay = tcfg.overlay or f"deploy/taskdef/{self.environment}.json"
        return [overlay] if tcfg.overlay or (self.ctx.root / overlay).is_file() else []

    def rendered(self, image: str | None) -> Rendered:
        """base + the environment's overlay when present, placeholders filled, `image` set."""

        tcfg = self.ctx.config.taskdef
        aws = self.ctx.config.aws
        return render(
            self.ctx.root,
            base=tcfg.base,
            overlays=self.overlays(),
            container=tcfg.container,
            image=image,
            variables={
                "environment": self.environment,
                "region": aws.region,
                "account_id": aws.account_id or "000000000000",
                "version": "",
                "service": self.stack,
            },
        )

    def task(self, document: dict[str, Any]) -> LocalTask:
        task = to_local(document, stack=self.stack)
        if not task.container(self.app).ports:
            raise UsageError(
                f"container {self.app!r} has no portMappings: nothing for nginx to route to",
                hint="add a tcp portMappings entry to the task definition",
            )
        return task

    def document(self, release_id: str) -> dict[str, Any]:
        path = self.state_path / "releases" / f"{release_id}.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())["document"]
        except (OSError, ValueError, KeyError, TypeError):
            raise DeployFailed(
                f"the task definition of release {release_id} is missing ({path})",
                hint="deploy that version again instead",
            ) from None
        return data

    def _document_for(self, artifact: Artifact) -> dict[str, Any]:
        if artifact.restore:
            return self.document(artifact.restore)
        return self.render(artifact.image)

    def plan(self, attempt: Attempt) -> Plan:
        artifact = attempt.artifact
        task = self.task(self._document_for(artifact))
        return local_plan(self, task, artifact.version, artifact.image, kind=attempt.kind)

    # -- the phases ----------------------------------------------------------------------------
    def prepare(self, attempt: Attempt) -> None:
        artifact = attempt.artifact
        document = self._document_for(artifact)
        task = self.task(document)
        self.ctx.docker.ping()
        self.isolation.check()
        if not self.proxy.running():
            self.proxy.refuse_if_taken()
        specs, skipped = self._runnable(task)
        self._warn_unsupported(task, skipped)
        attempt.release_id = new_release_id()
        attempt.state.update(document=document, task=task, specs=specs, started=[])
        self.state_path.mkdir(parents=True, exist_ok=True)
        remove_env_files(self.runtime.env_dir)
        write_json_atomically(
            self.state_path / "releases" / f"{attempt.release_id}.json",
            {"artifact": artifact.__dict__, "document": document},
        )
        live = attempt.before.describe()
        self.ctx.console.progress(
            f"{attempt.kind} {artifact.version} as release {attempt.release_id} (serving: {live})"
        )

    def start(self, attempt: Attempt) -> None:
        release = attempt.release_id
        self.runtime.start(
            attempt.state["task"],
            attempt.state["specs"],
            lambda container: self._labels(attempt, container),
            lambda container: self.container_name(release, container),
            self._started(attempt),
        )

    def wait_healthy(self, attempt: Attempt) -> None:
        try:
            self.runtime.wait_healthy(self._started(attempt))
        except DeployFailed:
            self.runtime.show_logs(self._started(attempt), self.ctx.console.err)
            raise

    def direct_url(self, attempt: Attempt) -> str:
        port = self._host_port(attempt.release_id, attempt.state["task"])
        attempt.details["host_port"] = port
        return f"http://127.0.0.1:{port}"

    def shift(self, attempt: Attempt) -> None:
        if not self.proxy.running():
            self.proxy.ensure_started(self.upstream_of(attempt.before))
        port = attempt.details.get("host_port") or self._host_port(
            attempt.release_id, attempt.state["task"]
        )
        self.ctx.console.progress(f"switching {self.proxy.url} to {attempt.release_id}")
        self.proxy.switch(
            Upstream(attempt.release_id, "127.0.0.1", int(port)),
            on_written=lambda: faults.point("inside:shift"),
        )

    def wait_shifted(self, attempt: Attempt) -> None:
        """nginx confirmed the new routing inside `shift` already."""

    def bake(self, attempt: Attempt, until: float, probe: Callable[[], str | None]) -> None:
        if until > 0:
            self.ctx.console.progress(
                f"baking {attempt.release_id} for {self.cfg.bake_seconds:g}s "
                "(the previous release keeps running)"
            )
        self.runtime.bake(self._started(attempt), until, probe)

    def finalize(self, attempt: Attempt) -> None:
        self.truth.stop_others(keep=attempt.release_id)

    def undo(self, attempt: Attempt) -> str:
        before = attempt.before
        upstream = self.truth.bring_back(before)
        self.proxy.switch(upstream)
        if upstream is None:
            return "nothing served before: the proxy answers 503 again"
        return f"switched back to {before.describe()}"

    def discard(self, attempt: Attempt) -> None:
        if not attempt.release_id or self.proxy.serving(timeout=1.0) == attempt.release_id:
            return  # never remove what nginx routes to
        names = [c.name for c in self.containers.list({LABEL_RELEASE: attempt.release_id})]
        self.containers.remove(names)

    def record(self, attempt: Attempt, mark: Mark) -> None:
        if mark == "begin":
            self.history.begin(self._release(attempt))
        else:
            self.history.mark(
                attempt.release_id, "shifting" if mark == "shifting" else "finalizing"
            )

    def finish(self, attempt: Attempt, outcome: Outcome, after: Serving, message: str) -> None:
        if not attempt.release_id or self.history.read().get(attempt.release_id) is None:
            return
        self.history.finish(
            attempt.release_id,
            "in_progress" if outcome == "in_progress" else outcome,
            message=message,
            live=after.release_id if after.known else False,
            host_port=attempt.details.get("host_port"),
            containers=[s.name for s in self._started(attempt)],
        )

    # -- helpers -------------------------------------------------------------------------------
    def _started(self, attempt: Attempt) -> list[Started]:
        started: list[Started] = attempt.state.setdefault("started", [])
        return started

    def _host_port(self, release_id: str, task: LocalTask) -> int:
        name = self.container_name(release_id, self.app)
        return self.containers.host_port(name, task.container(self.app).ports[0])

    def upstream_of(self, serving: Serving) -> Upstream | None:
        if serving.release_id is None:
            return None
        port = serving.facts.get("host_port")
        if not port:
            port = self._host_port(serving.release_id, self.task(self.document(serving.release_id)))
        return Upstream(serving.release_id, "127.0.0.1", int(port))

    def _release(self, attempt: Attempt) -> Release:
        artifact = attempt.artifact
        return Release(
            release_id=attempt.release_id,
            version=artifact.version,
            digest=artifact.digest,
            image=artifact.image,
            taskdef_hash=content_hash(attempt.state["document"]),
            commit=artifact.revision,
            actor=attempt.actor or current_actor(self.ctx.environ),
            started_at=now_iso(),
            kind=attempt.kind,
            message=attempt.message,
            image_id=self.ctx.docker.image_id(artifact.image) or "",
            replaces=attempt.before.release_id,
        )

    def _labels(self, attempt: Attempt, container: str) -> dict[str, str]:
        artifact = attempt.artifact
        return self.release_labels(attempt.release_id, artifact.version, artifact.digest, container)

    def release_labels(
        self, release_id: str, version: str, digest: str, container: str
    ) -> dict[str, str]:
        """The labels a release's container carries: how status, cleanup and reconcile find
        it."""
        return {
            LABEL_STACK: self.stack,
            LABEL_ENV: self.environment,
            LABEL_RELEASE: release_id,
            LABEL_VERSION: version,
            LABEL_DIGEST: digest,
            LABEL_CONTAINER: container,
        }

    def pullable(self, image: str) -> bool:
        return self._pullable(image)

    def _resolve_secret(self, ref: SecretRef) -> Secret:
        """A secret delivered into a container: a file reference resolves only inside the
        roots Context.secret_roots(into_container=True) names; one inside the state directory
        that does not exist yet is created with a random value (local development only)."""
        if ref.file:
            path = self.ctx.secret_path(ref, into_container=True)  # symlinks resolved
            if path.is_relative_to(self.state_path.resolve()) and not path.exists():
                generated_secret(path)
                self.ctx.console.progress(f"generated a local development secret in {path}")
        return self.ctx.secret(ref, into_container=True)

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
            self.ctx.console.warn("local target: " + " | ".join(parts))
