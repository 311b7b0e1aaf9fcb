"""External commands as data: each command shipyard runs (docker, nginx, git, k6) is one
`Command` value, built here by a pure function. A plan (--dry-run) prints that value and the
adapter runs that same value, so what is shown is what runs; tests compare the argv.

A Command never holds a secret: what goes on stdin is named (`stdin="registry password"`),
never included, and so are the environment variables a command reads.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from shipyard.images import BuildRequest
from shipyard.records import record


@record
class Command:
    argv: tuple[str, ...]
    stdin: str | None = None  # the name of what the caller feeds on stdin, never its value
    env: tuple[str, ...] = ()  # names of environment variables the command reads

    def shown(self) -> str:
        text = shlex.join(self.argv)
        return f"{text} < {self.stdin}" if self.stdin else text


def command(*argv: str, stdin: str | None = None, env: Sequence[str] = ()) -> Command:
    return Command(tuple(argv), stdin, tuple(env))


# -- docker ------------------------------------------------------------------------------------
def docker_build(request: BuildRequest) -> Command:
    """`docker buildx build` of the request, with plain progress (one line per event) so the
    adapter can stream and keep the tail of the log."""
    argv = ["docker", "buildx", "build", "--progress", "plain", "--file", request.dockerfile]
    for tag in request.tags:
        argv += ["--tag", tag]
    for key, value in sorted(request.build_args.items()):
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in sorted(request.labels.items()):
        argv += ["--label", f"{key}={value}"]
    argv += ["--platform", ",".join(request.platforms)]
    for ref in request.cache_from:
        argv += ["--cache-from", ref]
    argv.append("--push" if request.push else "--load")
    argv.append(request.context)
    return command(*argv)


def docker_login(server: str, username: str) -> Command:
    """`docker login` with the password on stdin: it never appears in argv (ps, /proc)."""
    return command(
        "docker",
        "login",
        "--username",
        username,
        "--password-stdin",
        server,
        stdin="registry password",
    )


def docker_tag(source: str, target: str) -> Command:
    return command("docker", "tag", source, target)


def docker_push(ref: str) -> Command:
    return command("docker", "push", "--quiet", ref)


def docker_version() -> Command:
    return command(
        "docker", "version", "--format", "{{.Server.Version}} {{.Server.Os}}/{{.Server.Arch}}"
    )


def docker_image_inspect(ref: str, template: str) -> Command:
    return command("docker", "image", "inspect", "--format", template, ref)


def docker_image_ls(repository: str) -> Command:
    return command("docker", "image", "ls", "--format", "{{.Tag}}", repository)


# -- nginx -------------------------------------------------------------------------------------
def nginx(binary: str, prefix: Path, conf: Path, *args: str) -> Command:
    """nginx with its own prefix, config and error log: never the system's."""
    return command(
        binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log"), *args
    )


def nginx_test(binary: str, prefix: Path, conf: Path) -> Command:
    return nginx(binary, prefix, conf, "-t")


def nginx_reload(binary: str, prefix: Path, conf: Path) -> Command:
    return nginx(binary, prefix, conf, "-s", "reload")


# -- git ---------------------------------------------------------------------------------------
def git(*args: str) -> Command:
    return command("git", *args)


# -- k6 ----------------------------------------------------------------------------------------
def k6_run(
    binary: str,
    script: str,
    *,
    vus: int,
    duration: str,
    trend_stats: str,
    summary: str,
    variables: Sequence[tuple[str, str]],
    env: Sequence[str] = (),
) -> Command:
    """`k6 run` of `script` with its summary exported to `summary`; `variables` reach the
    script as __ENV, `env` names what k6 sees of the caller's environment."""
    argv = [
        binary,
        "run",
        "--quiet",
        "--no-usage-report",  # k6 would report each run to Grafana's servers
        "--address",
        "",  # no REST API: parallel runs would fight over its port 6565
        "--vus",
        str(vus),
        "--duration",
        duration,
        "--summary-trend-stats",
        trend_stats,
        "--summary-export",
        summary,
    ]
    for key, value in variables:
        argv += ["-e", f"{key}={value}"]
    return command(*argv, script, env=env)


# -- linters and sessions ----------------------------------------------------------------------
def hadolint(binary: str, dockerfile: str, *, machine_readable: bool = False) -> Command:
    """hadolint of `dockerfile`, run from the project root so its .hadolint.yaml applies;
    findings as JSON for a report, else as plain lines for a log."""
    return command(
        binary, *(("--format", "json") if machine_readable else ("--no-color",)), dockerfile
    )


def nox_session(python: str, session: str) -> Command:
    """One nox session, with this interpreter's nox (the project's virtualenv)."""
    return command(python, "-m", "nox", "-s", session)


# -- the host ----------------------------------------------------------------------------------
def iptables(binary: str, *args: str) -> Command:
    """iptables waiting up to 10 s for the xtables lock (Docker takes it too)."""
    return command(binary, "-w", "10", *args)


def docker_network_create(name: str, labels: Mapping[str, str]) -> Command:
    labelled = [a for key, value in labels.items() for a in ("--label", f"{key}={value}")]
    return command("docker", "network", "create", *labelled, name)


def docker_volume_create(name: str, labels: Mapping[str, str]) -> Command:
    labelled = [a for key, value in labels.items() for a in ("--label", f"{key}={value}")]
    return command("docker", "volume", "create", *labelled, name)
