"""Benchmark: the local release against the same work done by hand, and failure detection.

1. `inv release --env local --bump patch` of the sample app, against the equivalent raw
   sequence a person would type (docker buildx build, tag, login, push, docker run with the same
   health check, poll `docker inspect` until healthy, curl the new container, rewrite nginx's
   upstream + `nginx -s reload`, curl through the proxy, drain, docker stop). Target: <= 1.3x.
2. A release built with HEALTHY=false: time from the container's first failing health check
   (Docker's own timestamp) to the old version confirmed answering through the proxy after
   shipyard gave up. Target: <= health-check interval + 2 s.

Both run in a throwaway copy of the project (own image repository, free ports) and clean up.
Prints the figures; exits 1 when a target is missed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INV = str(Path(sys.executable).parent / "inv")
ROUNDS = 3
RATIO_TARGET = 1.3
PASSWORD_FILE = Path("/var/lib/shipyard/registry/password")
REGISTRY = "127.0.0.1:5000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sh(*argv: str, input_: str | None = None) -> str:
    return subprocess.run(
        argv, capture_output=True, text=True, check=True, input=input_
    ).stdout.strip()


def get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - local URL
            return str(resp.read().decode().strip())
    except OSError:
        return None


class Project:
    def __init__(self, base: Path) -> None:
        self.repository = f"bench{uuid.uuid4().hex[:8]}"
        self.path = base / "project"
        self.path.mkdir()
        for name in ("app", "deploy"):
            shutil.copytree(REPO / name, self.path / name)
        for name in ("version.txt", "tasks.py"):
            shutil.copy(REPO / name, self.path / name)
        self.port = free_port()
        toml = self.path / "deploy" / "shipyard.toml"
        toml.write_text(
            toml.read_text().replace(
                'repository = "gamepulse"', f'repository = "{self.repository}"'
            )
        )
        env_file = self.path / "deploy" / "environments" / "local.toml"
        env_file.write_text(
            env_file.read_text().replace("proxy_port = 8080", f"proxy_port = {self.port}")
        )
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SHIPYARD_"))},
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "b@example.com",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "b@example.com",
        }
        for argv in (
            ["git", "init", "-q", "-b", "main"],
            ["git", "add", "-A"],
            ["git", "commit", "-qm", "bench"],
        ):
            subprocess.run(argv, cwd=self.path, env=self.env, check=True, capture_output=True)

    def inv(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [INV, *args], cwd=self.path, env=self.env, capture_output=True, text=True, check=False
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def teardown(self) -> None:
        stack = f"{self.repository}-local"
        pid_file = self.path / ".shipyard" / "local" / "nginx" / "nginx.pid"
        if pid_file.exists():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
        names = sh("docker", "ps", "-aq", "--filter", f"label=dev.shipyard.stack={stack}").split()
        if names:
            subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)
        subprocess.run(
            ["docker", "network", "rm", f"shipyard-{stack}"], capture_output=True, check=False
        )
        subprocess.run(
            ["docker", "volume", "rm", f"{stack}-gamepulse-data"], capture_output=True, check=False
        )
        refs = [
            r
            for r in sh("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()
            if self.repository in r
        ]
        if refs:
            subprocess.run(["docker", "image", "rm", "-f", *refs], capture_output=True, check=False)


class RawSequence:
    """The same release done with docker, nginx and curl directly (no shipyard)."""

    def __init__(self, project: Project, base: Path) -> None:
        self.project = project
        self.prefix = base / "raw-nginx"
        (self.prefix / "tmp").mkdir(parents=True)
        self.port = free_port()
        self.network = f"raw-{project.repository}"
        self.live: str | None = None
        self.version = 100
        sh("docker", "network", "create", self.network)
        (self.prefix / "nginx.conf").write_text(
            f"daemon on; pid {self.prefix}/nginx.pid; error_log {self.prefix}/error.log;\n"
            "events {}\n"
            f"http {{ access_log off; client_body_temp_path {self.prefix / 'tmp'};"
            f" proxy_temp_path {self.prefix / 'tmp'}; include {self.prefix}/upstream.conf; }}\n"
        )
        self._upstream(None)
        sh(
            "nginx",
            "-p",
            str(self.prefix),
            "-c",
            str(self.prefix / "nginx.conf"),
            "-e",
            str(self.prefix / "error.log"),
        )

    def _upstream(self, port: int | None) -> None:
        route = f"proxy_pass http://127.0.0.1:{port};" if port else "return 503;"
        (self.prefix / "upstream.conf").write_text(
            f"server {{ listen 127.0.0.1:{self.port}; location / {{ {route} }} }}\n"
        )

    def release(self) -> float:
        started = time.monotonic()
        self.version += 1
        version = f"0.{self.version}.0"
        repo = self.project.repository
        app = self.project.path / "app"
        sha = sh("git", "-C", str(self.project.path), "rev-parse", "HEAD")
        sh(
            "docker",
            "buildx",
            "build",
            "--load",
            "--tag",
            f"{repo}:{version}",
            "--build-arg",
            f"APP_VERSION={version}",
            "--build-arg",
            f"APP_REVISION={sha}",
            "--cache-from",
            f"{repo}:0.1.0",
            str(app),
        )
        tags = [version, f"sha-{sha[:7]}", dt.datetime.now(dt.UTC).strftime("%Y%m%d")]
        for tag in tags:
            sh("docker", "tag", f"{repo}:{version}", f"{REGISTRY}/{repo}:{tag}")
        sh(
            "docker",
            "login",
            "--username",
            "shipyard",
            "--password-stdin",
            REGISTRY,
            input_=PASSWORD_FILE.read_text().strip(),
        )
        for tag in tags:
            sh("docker", "push", "--quiet", f"{REGISTRY}/{repo}:{tag}")
        digest = sh(
            "docker",
            "image",
            "inspect",
            "--format",
            "{{index .RepoDigests 0}}",
            f"{REGISTRY}/{repo}:{version}",
        )
        name = f"raw-{repo}-{self.version}"
        sh(
            "docker",
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            self.network,
            "--publish",
            "127.0.0.1::8080",
            "--init",
            "--stop-timeout",
            "2",
            "--env",
            "ENVIRONMENT=local",
            "--health-cmd",
            "/bin/wget -q -O /dev/null http://127.0.0.1:8080/health",
            "--health-interval",
            "1s",
            "--health-timeout",
            "2s",
            "--health-retries",
            "2",
            "--health-start-period",
            "1s",
            digest,
        )
        while sh("docker", "inspect", "--format", "{{.State.Health.Status}}", name) != "healthy":
            time.sleep(0.1)
        port = int(sh("docker", "port", name, "8080/tcp").splitlines()[0].rsplit(":", 1)[1])
        sh("curl", "-fsS", f"http://127.0.0.1:{port}/health")
        sh("curl", "-fsS", f"http://127.0.0.1:{port}/version")
        self._upstream(port)
        sh("nginx", "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"), "-s", "reload")
        while get(f"http://127.0.0.1:{self.port}/version") != version:
            time.sleep(0.05)
        # an old nginx worker may still answer a request or two right after the reload
        while get(f"http://127.0.0.1:{self.port}/health") != "ok":
            time.sleep(0.05)
        time.sleep(2)  # drain, as target.drain_seconds
        if self.live:
            sh("docker", "stop", self.live)
        self.live = name
        return time.monotonic() - started

    def teardown(self) -> None:
        subprocess.run(
            ["nginx", "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"), "-s", "stop"],
            capture_output=True,
            check=False,
        )
        names = sh(
            "docker", "ps", "-aq", "--filter", f"name=raw-{self.project.repository}-"
        ).split()
        if names:
            subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)
        subprocess.run(["docker", "network", "rm", self.network], capture_output=True, check=False)


def first_failed_check(
    stack: str, stop_at: float, proc: subprocess.Popen[str]
) -> dt.datetime | None:
    """Watch the failing release's container until the process ends; Docker's timestamp of its
    first failing health check."""
    first: dt.datetime | None = None
    while proc.poll() is None and time.monotonic() < stop_at:
        ids = sh("docker", "ps", "-aq", "--filter", f"label=dev.shipyard.stack={stack}").split()
        for cid in ids:
            try:
                data = json.loads(sh("docker", "inspect", cid))[0]
            except subprocess.CalledProcessError:
                continue
            if data["Config"]["Labels"].get("dev.shipyard.version") != "9.0.0":
                continue
            for entry in (data["State"].get("Health") or {}).get("Log") or []:
                if entry.get("ExitCode") not in (0, None):
                    at = dt.datetime.fromisoformat(entry["Start"][:26].rstrip("Z") + "+00:00")
                    first = at if first is None or at < first else first
        if first is not None:
            break
        time.sleep(0.05)
    return first


def main() -> int:
    if shutil.which("nginx") is None or not PASSWORD_FILE.exists():
        print("local_release: needs nginx and the local registry (scripts/bootstrap.sh)")
        return 1
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        base = Path(tmp)
        project = Project(base)
        raw = RawSequence(project, base)
        try:
            first = project.inv("release", "--env", "local")
            if first.returncode != 0:
                print(first.stdout, first.stderr)
                return 1
            raw.release()  # both sides start with one release live
            ours: list[float] = []
            theirs: list[float] = []
            for i in range(ROUNDS):
                if i % 2:  # alternate who goes first: the machine is shared
                    theirs.append(raw.release())
                started = time.monotonic()
                result = project.inv("release", "--env", "local", "--bump", "patch")
                ours.append(time.monotonic() - started)
                if result.returncode != 0:
                    print(result.stdout, result.stderr)
                    return 1
                if not i % 2:
                    theirs.append(raw.release())
            ratio = statistics.median(ours) / statistics.median(theirs)
            print(
                f"inv release --env local: median {statistics.median(ours):.2f}s "
                f"(runs {', '.join(f'{s:.2f}' for s in ours)})"
            )
            print(
                f"raw docker/nginx/curl:   median {statistics.median(theirs):.2f}s "
                f"(runs {', '.join(f'{s:.2f}' for s in theirs)})"
            )
            print(
                f"ratio {ratio:.2f}x (target <= {RATIO_TARGET}x): "
                f"{'OK' if ratio <= RATIO_TARGET else 'MISSED'}"
            )
            if ratio > RATIO_TARGET:
                failures.append("release overhead")

            # failure detection: HEALTHY=false, from the first failing check to old confirmed
            live_version = get(project.url + "/version")
            proc = subprocess.Popen(
                [
                    INV,
                    "release",
                    "--env",
                    "local",
                    "--set",
                    "9.0.0",
                    "--build-arg",
                    "HEALTHY=false",
                ],
                cwd=project.path,
                env=project.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            first_fail = first_failed_check(
                f"{project.repository}-local", time.monotonic() + 120, proc
            )
            proc.communicate(timeout=120)
            answered = get(project.url + "/version")
            confirmed = dt.datetime.now(dt.UTC)
            interval = 1.0  # deploy/taskdef/local.json healthCheck.interval
            if first_fail is None or proc.returncode != 1 or answered != live_version:
                print(
                    "failure detection: could not measure "
                    f"(exit {proc.returncode}, answered {answered!r})"
                )
                failures.append("failure detection")
            else:
                took = (confirmed - first_fail).total_seconds()
                target = interval + 2
                print(
                    f"failing health check -> old version {answered} confirmed: {took:.2f}s "
                    f"(target <= interval {interval:g}s + 2s = {target:g}s): "
                    f"{'OK' if took <= target else 'MISSED'}"
                )
                if took > target:
                    failures.append("failure detection")
        finally:
            raw.teardown()
            project.teardown()
    if failures:
        print(f"local_release: missed {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
