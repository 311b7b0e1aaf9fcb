"""What a local rollout would do, as a plan (--dry-run): the same argv the adapters run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.plan import Plan
from shipyard.taskdef_local import ContainerSpec, LocalTask

if TYPE_CHECKING:
    from shipyard.targets.local import LocalTarget


def _run_argv(target: LocalTarget, spec: ContainerSpec, image: str) -> list[str]:
    argv = [
        "docker",
        "run",
        "--detach",
        "--name",
        target.container_name("<release>", spec.name),
        "--network",
        target.network,
    ]
    if spec.essential:
        argv += ["--restart", "unless-stopped"]
    # a host port chosen free at start and kept across restarts (adapters/containers.py)
    argv += [a for port in spec.ports for a in ("--publish", f"127.0.0.1:<free port>:{port}")]
    if spec.health:
        h = spec.health
        argv += ["--health-cmd", h.command, "--health-interval", f"{h.interval}s"]
        argv += ["--health-timeout", f"{h.timeout}s", "--health-retries", str(h.retries)]
        argv += ["--health-start-period", f"{h.start_period}s"]
    argv.append(image if spec.name == target.app else spec.image)
    return argv


def local_plan(
    target: LocalTarget, task: LocalTask, version: str, image: str, *, kind: str = "deploy"
) -> Plan:
    cfg = target.cfg
    env = target.environment
    p = Plan(f"{kind} {version} to {env} (local, blue/green behind nginx)")
    p.add("lock", f"{target.state_path / 'deploy.lock'}")
    p.add("network", target.network, ["docker", "network", "create", target.network])
    for port in sorted({port for spec in task.containers for port in spec.ports}):
        rule = target.isolation.rule(f"<bridge of {target.network}>", port)
        p.add(
            "isolate",
            f"Docker < 28: other hosts' packets to port {port} are dropped",
            ["iptables", "-I", "DOCKER-USER", "1", *rule],
        )
    for vol in task.volumes:
        p.add("volume", vol, ["docker", "volume", "create", vol])
    for spec in task.containers:
        detail = (
            "essential" if spec.essential else "non-essential (skipped if its image is missing)"
        )
        p.add("start", f"{spec.name}: {detail}", _run_argv(target, spec, image))
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
