"""What a local rollout would do, as a plan (--dry-run): the same argv the adapters run."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from shipyard.adapters.containers import LABEL_STACK
from shipyard.commands import Command, docker_network_create, docker_volume_create
from shipyard.container_run import Placement, docker_run
from shipyard.plan import Plan
from shipyard.taskdef_local import ContainerSpec, LocalTask

if TYPE_CHECKING:
    from shipyard.targets.local import LocalTarget


def _run_command(target: LocalTarget, spec: ContainerSpec, version: str, image: str) -> Command:
    """The docker run the rollout runs for `spec`, with what is only known then (the release's
    id, the image's digest, the free host port, the env file) as placeholders."""
    if spec.name == target.app:
        spec = dataclasses.replace(spec, image=image)
    where = Placement(
        name=target.container_name("<release>", spec.name),
        network=target.network,
        labels=target.release_labels("<release>", version, "<digest>", spec.name),
        host_ports=["<free port>" for _ in spec.ports],
        env_file="<env file in the state directory>" if spec.secrets else None,
        pull=target.pullable(spec.image),
        stop_timeout=int(target.cfg.stop_timeout_seconds),
    )
    return docker_run(spec, where)


def local_plan(
    target: LocalTarget, task: LocalTask, version: str, image: str, *, kind: str = "deploy"
) -> Plan:
    cfg = target.cfg
    env = target.environment
    p = Plan(f"{kind} {version} to {env} (local, blue/green behind nginx)")
    p.add("lock", f"{target.state_path / 'deploy.lock'}")
    stack = {LABEL_STACK: target.stack}
    p.add("network", target.network, docker_network_create(target.network, stack))
    for port in sorted({port for spec in task.containers for port in spec.ports}):
        p.add(
            "isolate",
            f"Docker < 28: other hosts' packets to port {port} are dropped",
            target.isolation.insert(f"<bridge of {target.network}>", port),
        )
    for vol in task.volumes:
        p.add("volume", vol, docker_volume_create(vol, stack))
    for spec in task.containers:
        detail = (
            "essential" if spec.essential else "non-essential (skipped if its image is missing)"
        )
        p.add("start", f"{spec.name}: {detail}", _run_command(target, spec, version, image))
    p.add(
        "wait healthy", f"until Docker reports healthy (at most {cfg.healthy_timeout_seconds:.0f}s)"
    )
    p.add("verify new", "configured checks against the new containers' published port")
    proxy = target.proxy
    p.add("shift", f"nginx {proxy.url} -> new release", proxy.reload_command())
    p.add("verify", f"configured checks through {target.public_url}, concurrently, once each")
    p.add(
        "bake", f"{cfg.bake_seconds:g}s watching the new containers; the old release keeps running"
    )
    p.add("finalize", "stop the previous release's containers (kept for rollback)")
    p.notes.append(
        "on a failure or signal: switch back, remove the new containers, report what serves"
    )
    if task.ignored or task.substituted:
        p.notes.append("not honoured here: " + ", ".join(task.ignored or ["-"]))
    return p
