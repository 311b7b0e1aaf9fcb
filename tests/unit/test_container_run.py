"""`docker run` of a local container, as the Command value the plan prints and the adapter runs
(compared whole, as Kamal's command tests do)."""

from __future__ import annotations

from shipyard.container_run import (
    Placement,
    docker_create,
    docker_exec,
    docker_logs,
    docker_remove,
    docker_run,
    docker_start_attached,
)
from shipyard.taskdef_local import ContainerSpec, HealthSpec, VolumeMount

WHERE = Placement(
    name="shop-local-r1-web",
    network="shop-local",
    labels={"dev.shipyard.release": "r1", "dev.shipyard.container": "web"},
    host_ports=["41001"],
    stop_timeout=15,
)


def test_an_essential_container_with_every_option() -> None:
    spec = ContainerSpec(
        name="web",
        image="localhost:5000/shop:1.2.0",
        command=("--port", "8000"),
        entrypoint=("/bin/server", "--quiet"),
        environment=(("MODE", "production"), ("GREETING", "a=b c")),
        ports=(8000,),
        health=HealthSpec("wget -qO- http://127.0.0.1:8000/health", 2, 3, 5, 1),
        mounts=(VolumeMount("shop-data", "/data", read_only=True),),
        user="1000:1000",
        workdir="/srv",
        read_only=True,
        init=True,
    )
    where = Placement(**{**WHERE.__dict__, "env_file": "/state/env/ab.env", "pull": True})
    assert docker_run(spec, where).argv == (
        *("docker", "run", "--detach", "--name", "shop-local-r1-web", "--network", "shop-local"),
        *("--network-alias", "web", "--pull", "missing"),
        *("--label", "dev.shipyard.release=r1", "--label", "dev.shipyard.container=web"),
        *("--env", "MODE=production", "--env", "GREETING=a=b c"),
        *("--env-file", "/state/env/ab.env", "--volume", "shop-data:/data:ro", "--read-only"),
        *("--user", "1000:1000", "--workdir", "/srv", "--init"),
        *("--publish", "127.0.0.1:41001:8000", "--stop-timeout", "15"),
        *("--restart", "unless-stopped"),
        *("--health-cmd", "wget -qO- http://127.0.0.1:8000/health", "--health-interval", "2s"),
        *("--health-timeout", "3s", "--health-retries", "5", "--health-start-period", "1s"),
        *("--entrypoint", "/bin/server", "localhost:5000/shop:1.2.0", "--quiet", "--port", "8000"),
    )


def test_a_sidecar_is_not_restarted_pulls_nothing_and_keeps_its_own_stop_timeout() -> None:
    spec = ContainerSpec(name="cache", image="redis:7", essential=False, stop_timeout=3)
    where = Placement(name="c", network="n", labels={}, host_ports=[])
    assert docker_run(spec, where).argv == (
        *("docker", "run", "--detach", "--name", "c", "--network", "n"),
        *("--network-alias", "cache", "--pull", "never", "--stop-timeout", "3", "redis:7"),
    )


def test_a_one_off_container_keeps_the_entrypoint_and_publishes_nothing() -> None:
    spec = ContainerSpec(
        name="web",
        image="shop:1",
        entrypoint=("/bin/server",),
        command=("--port", "8000"),
        ports=(8000,),
        health=HealthSpec("true"),
        user="app",
    )
    where = Placement(name="shop-run-ab12", network="n", labels={"k": "v"}, host_ports=[])
    assert docker_create(spec, ["migrate", "--all"], where, tty=True).argv == (
        *("docker", "container", "create", "--name", "shop-run-ab12", "--network", "n"),
        *("--interactive", "--pull", "never", "--tty", "--label", "k=v", "--user", "app"),
        *("--entrypoint", "/bin/server", "shop:1", "migrate", "--all"),
    )


def test_exec_logs_start_and_remove() -> None:
    assert docker_exec("c1", ["sh", "-s"], tty=False).argv == (
        *("docker", "container", "exec", "--interactive", "c1", "sh", "-s"),
    )
    assert docker_exec("c1", ["sh"], tty=True).argv[4] == "--tty"
    assert docker_logs("c1", since="10m", follow=True).argv == (
        *("docker", "container", "logs", "--timestamps", "--since", "10m", "--follow", "c1"),
    )
    assert docker_logs("c1", since=None, follow=False).argv[-2:] == ("--timestamps", "c1")
    assert docker_start_attached("c1").argv[2:] == ("start", "--attach", "--interactive", "c1")
    assert docker_remove("c1").argv == ("docker", "container", "rm", "--force", "c1")
