"""What serves in a local environment, measured, and the records brought in line with it.

nginx says which release it routes to (/.shipyard/release); Docker says whether that release's
containers run, and their labels say what they are, so what serves can be told with the
history missing. `reconcile` (under the lock, before anything changes) finishes records a
killed run left, sets aside a corrupt history, and records what serves when the records lack
it. A serving release is never stopped here.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from shipyard.adapters.containers import (
    LABEL_CONTAINER,
    LABEL_DIGEST,
    LABEL_RELEASE,
    LABEL_STACK,
    LABEL_VERSION,
    ContainerInfo,
    remove_env_files,
)
from shipyard.adapters.nginx import NO_RELEASE, Upstream
from shipyard.errors import DeployFailed, ShipyardError, UsageError
from shipyard.history import UNFINISHED, HistoryState, HistoryUnreadable, Release, now_iso
from shipyard.rollout.model import Serving, serving_dict
from shipyard.targets.base import Artifact, StatusReport
from shipyard.targets.local_runtime import Started

if TYPE_CHECKING:
    from shipyard.targets.local import LocalTarget

# quoted since the values are (adapters/nginx.py); unquoted as older versions wrote it
_SERVER = re.compile(r"server \"?127\.0\.0\.1:(\d+)\"?;")


class LocalTruth:
    def __init__(self, target: LocalTarget) -> None:
        self.t = target

    # -- observation ---------------------------------------------------------------------------
    def observe(self) -> Serving:
        proxy = self.t.proxy
        if not proxy.running() and not proxy.adopt():
            return Serving(True, None, detail=f"the proxy {proxy.url} is not running")
        routed = proxy.serving(timeout=1.0)
        if routed is None:
            return Serving(False, detail=f"nginx runs but does not answer {proxy.url}")
        if routed == NO_RELEASE:
            return Serving(True, None, detail="nginx answers 503: no release is live")
        return self._release_facts(routed)

    def _release_facts(self, release_id: str) -> Serving:
        meta = self._artifact(release_id)
        port = self._routed_port(release_id)
        try:
            listed = self.t.containers.list({LABEL_STACK: self.t.stack, LABEL_RELEASE: release_id})
        except ShipyardError as exc:
            return Serving(
                True,
                release_id,
                meta.get("version"),
                meta.get("digest"),
                f"nginx routes to {release_id}; its containers cannot be seen: {exc.one_line()}",
                facts={"host_port": port, "docker": False},
            )
        app = next((c for c in listed if c.labels.get(LABEL_CONTAINER) == self.t.app), None)
        labels = app.labels if app else {}
        running = [c for c in listed if c.status == "running"]
        if app is not None and app.status == "running":
            detail = f"nginx routes to {release_id}; {len(running)}/{len(listed)} containers run"
        else:
            state = app.status if app else "gone"
            detail = f"nginx routes to {release_id}, whose {self.t.app} container is {state}"
        return Serving(
            True,
            release_id,
            labels.get(LABEL_VERSION) or meta.get("version"),
            labels.get(LABEL_DIGEST) or meta.get("digest"),
            detail,
            facts={"host_port": port, "docker": True, "healthy": bool(app) and app in running},
        )

    def _artifact(self, release_id: str) -> dict[str, Any]:
        path = self.t.state_path / "releases" / f"{release_id}.json"
        try:
            data = json.loads(path.read_text()).get("artifact", {})
        except (OSError, ValueError, AttributeError):
            return {}
        return data if isinstance(data, dict) else {}

    def _routed_port(self, release_id: str) -> int | None:
        try:
            text = self.t.proxy.upstream_conf.read_text()
        except OSError:
            return None
        found = _SERVER.search(text)
        return int(found.group(1)) if found and f"# release {release_id}" in text else None

    # -- reconcile -----------------------------------------------------------------------------
    def reconcile(self, observed: Serving) -> list[str]:
        warnings: list[str] = []
        removed = remove_env_files(self.t.runtime.env_dir)
        if removed:
            warnings.append(f"removed {removed} secret env file(s) a killed run left")
        state = self._readable_history(warnings)
        for record in [r for r in state.releases if r.outcome in UNFINISHED]:
            warnings.append(self._finish_killed(record, observed))
            observed = self.observe()
        if observed.known:
            self._adopt(observed, warnings)
            self._remove_failed(observed)
            self._rewrite_routing(observed)
            self._isolate(observed)
        return warnings

    def _isolate(self, observed: Serving) -> None:
        """The isolation rules do not survive a reboot, while Docker starts the live
        containers again: put them back before anything else happens (adapters/isolation)."""
        rid = observed.release_id
        if rid is None or not observed.facts.get("docker"):
            return
        try:
            task = self.t.task(self.t.document(rid))
            bridge = self.t.containers.bridge(self.t.network)
        except DeployFailed:
            return  # its task definition or network is gone: the next start applies them
        self.t.isolation.apply(bridge, [port for spec in task.containers for port in spec.ports])

    def _rewrite_routing(self, observed: Serving) -> None:
        """A run killed between writing nginx's routing and reloading it left a file that
        names another release than nginx serves: write it again from what serves."""
        proxy = self.t.proxy
        if proxy.running() and proxy.routed_release() != observed.release_id:
            proxy.switch(self.bring_back(observed))

    def _readable_history(self, warnings: list[str]) -> HistoryState:
        try:
            return self.t.history.read()
        except HistoryUnreadable as exc:
            aside = self.t.history.set_aside()
            warnings.append(f"{exc.message}; kept it as {aside} and rebuilt the records")
            return HistoryState(None, ())

    def _finish_killed(self, record: Release, observed: Serving) -> str:
        rid = record.release_id
        serves_it = observed.known and observed.release_id == rid
        if record.outcome == "finalizing" and serves_it:
            self.t.history.finish(rid, "succeeded", live=rid, message="finished after a kill")
            self.stop_others(keep=rid)
            return f"release {rid} ({record.version}) passed its checks before a kill: it is live"
        if serves_it and record.replaces:
            previous = self._release_facts(record.replaces)
            try:
                self.t.proxy.switch(self.bring_back(previous))
            except ShipyardError as exc:
                self.t.history.finish(rid, "interrupted", live=rid, message=exc.one_line())
                return f"release {rid} was interrupted and still serves: {exc.one_line()}"
        self._remove_release(rid)
        live = record.replaces if serves_it else observed.release_id
        self.t.history.finish(rid, "interrupted", live=live, message="the run was killed")
        back = f"; routed back to {record.replaces}" if serves_it and record.replaces else ""
        return f"release {rid} ({record.version}) was interrupted by a kill{back}"

    def _adopt(self, observed: Serving, warnings: list[str]) -> None:
        state = self.t.history.read()
        rid = observed.release_id
        if rid is not None and state.get(rid) is None:
            meta = self._artifact(rid)
            self.t.history.begin(_recovered(observed, meta))
            warnings.append(f"the records lacked release {rid}, which serves: recorded it")
        if state.live != rid:
            if state.releases:
                was = state.live or "nothing"
                warnings.append(f"the records said {was} was live; {observed.describe()} serves")
            self.t.history.set_live(rid)

    def _remove_failed(self, observed: Serving) -> None:
        """Containers of releases recorded as never having gone live for good."""
        state = self.t.history.read()
        done = {r.release_id for r in state.releases if r.outcome not in ("succeeded", *UNFINISHED)}
        doomed = [
            c.name
            for c in self._stack_containers()
            if c.release in done and c.release != observed.release_id
        ]
        if doomed:
            self.t.containers.remove(doomed)

    def _remove_release(self, release_id: str) -> None:
        names = [c.name for c in self._stack_containers() if c.release == release_id]
        self.t.containers.remove(names)

    def _stack_containers(self) -> list[ContainerInfo]:
        return self.t.containers.list({LABEL_STACK: self.t.stack})

    # -- helpers for the phases ----------------------------------------------------------------
    def bring_back(self, serving: Serving) -> Upstream | None:
        """The upstream of `serving`, its containers started again if they were stopped."""
        rid = serving.release_id
        if rid is None:
            return None
        try:
            listed = self.t.containers.list({LABEL_STACK: self.t.stack, LABEL_RELEASE: rid})
        except ShipyardError:
            port = serving.facts.get("host_port")
            if not port:
                raise
            return Upstream(rid, "127.0.0.1", int(port))  # nginx alone can be switched
        if not listed:
            raise DeployFailed(f"the containers of release {rid} are gone")
        stopped = [c.name for c in listed if c.status != "running"]
        task = self.t.task(self.t.document(rid))
        if stopped:
            self.t.ctx.console.progress(f"starting {rid} again: {', '.join(stopped)}")
            self.t.containers.start(stopped)
            by_name = {s.name: s for s in task.containers}
            started = [
                Started(by_name[c.labels.get(LABEL_CONTAINER, "")], c.name)
                for c in listed
                if c.labels.get(LABEL_CONTAINER) in by_name
            ]
            self.t.runtime.wait_healthy(started)
        name = self.t.container_name(rid, self.t.app)
        port = self.t.containers.host_port(name, task.container(self.t.app).ports[0])
        return Upstream(rid, "127.0.0.1", port)

    def stop_others(self, keep: str) -> None:
        others = [
            c.name for c in self._stack_containers() if c.release != keep and c.status == "running"
        ]
        if others:
            self.t.ctx.console.progress(
                f"stopping {len(others)} container(s) of the previous release"
            )
            self.t.containers.stop(others)

    # -- rollback choice and status ------------------------------------------------------------
    def rollback_artifact(self, observed: Serving, to: str | None) -> Artifact:
        state = self.t.history.read()
        env = self.t.environment
        if to:
            chosen = state.latest_succeeded(to)
            if chosen is None:
                ok = ", ".join(state.succeeded_versions()) or "none yet"
                raise UsageError(
                    f"version {to} never succeeded in {env}", hint=f"versions that did: {ok}"
                )
        else:
            found = state.rollback_target()
            if found is None:
                raise UsageError(
                    f"no previous good release to roll back to in {env}",
                    hint=f"inv status --env {env} lists the history",
                )
            chosen = found
        if observed.digest and chosen.digest == observed.digest:
            raise UsageError(f"version {chosen.version} is already live in {env}")
        return Artifact(
            chosen.version, chosen.image, chosen.digest, chosen.commit, restore=chosen.release_id
        )

    def status(self) -> StatusReport:
        observed = self.observe()
        problem = ""
        try:
            state = self.t.history.read()
        except HistoryUnreadable as exc:
            state, problem = HistoryState(None, ()), exc.one_line()
        seen = serving_dict(observed)
        seen["stack"] = self.t.stack
        seen["containers"] = self._container_rows(observed)
        seen["proxy"] = {"url": self.t.proxy.url, "running": self.t.proxy.running()}
        return StatusReport(
            self.t.environment,
            self.t.public_url,
            _live_info(state.live_release),
            _history_rows(state),
            observed=seen,
            mismatch=problem or _mismatch(observed, state, self.t.environment),
        )

    def _container_rows(self, observed: Serving) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        if observed.release_id is None or not observed.facts.get("docker"):
            return rows
        for c in self.t.containers.list({LABEL_RELEASE: observed.release_id}):
            try:
                st = self.t.containers.state(c.name)
            except ShipyardError:
                continue
            rows.append(
                {"name": c.name, "status": st.status, "health": st.health, "restarts": st.restarts}
            )
        return rows


def _recovered(observed: Serving, meta: dict[str, Any]) -> Release:
    return Release(
        release_id=str(observed.release_id),
        version=observed.version or str(meta.get("version") or "?"),
        digest=observed.digest or str(meta.get("digest") or ""),
        image=str(meta.get("image") or ""),
        taskdef_hash="",
        commit=str(meta.get("revision") or ""),
        actor="shipyard",
        started_at=now_iso(),
        kind="recovered",
        outcome="succeeded",
        finished_at=now_iso(),
        message="recorded from the containers and proxy: the history lacked it",
    )


def _live_info(live: Release | None) -> dict[str, Any] | None:
    if live is None:
        return None
    keys = ("release_id", "version", "digest", "image", "commit", "actor", "kind", "outcome")
    info = {k: getattr(live, k) for k in keys}
    info["since"] = live.finished_at or live.started_at
    return info


def _history_rows(state: HistoryState) -> list[dict[str, Any]]:
    target = state.rollback_target()
    return [
        {
            **r.as_dict(),
            "live": r.release_id == state.live,
            "rollback_target": target is not None and r.release_id == target.release_id,
        }
        for r in state.newest_first()
    ]


def _mismatch(observed: Serving, state: HistoryState, env: str) -> str:
    if not observed.known:
        return f"what serves cannot be observed: {observed.detail}"
    unfinished = [r for r in state.releases if r.outcome in UNFINISHED]
    if unfinished:
        r = unfinished[-1]
        return (
            f"release {r.release_id} ({r.version}) is recorded {r.outcome}: the run was killed; "
            f"`inv wait --env {env}` settles it"
        )
    if observed.release_id != state.live and (state.releases or observed.release_id):
        said = state.live or "nothing"
        return f"the records say {said} is live, but {observed.describe()} serves"
    if observed.release_id and observed.facts.get("healthy") is False:
        return f"{observed.detail}: requests to it fail"
    return ""
