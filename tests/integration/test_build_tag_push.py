"""build → tag → push against the real Docker engine and the real local registry, through the
real `inv` CLI. Every test works in its own throwaway project with a unique repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from shipyard.adapters.registry import Credentials, OciRegistry
from shipyard.secrets import Secret
from tests.conftest import Project, free_port

REGISTRY = "127.0.0.1:5000"
pytestmark = pytest.mark.usefixtures("docker_engine")


def docker(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {proc.stderr}")
    return proc.stdout.strip()


def inspect(ref: str) -> dict:  # type: ignore[type-arg]
    return json.loads(docker("image", "inspect", ref))[0]  # type: ignore[no-any-return]


def local_refs(repository: str) -> set[str]:
    listed = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()
    return {r for r in listed if r.rsplit(":", 1)[0].rsplit("/", 1)[-1] == repository}


@pytest.fixture
def registry(registry_password: str) -> OciRegistry:
    return OciRegistry(REGISTRY, Credentials("shipyard", Secret(registry_password)))


def run_json(project: Project, *args: str) -> dict:  # type: ignore[type-arg]
    proc = project.inv(*args, "--json", check=True)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_build_tag_push_labels_tags_digest_and_skip(
    project: Project, registry: OciRegistry, registry_password: str
) -> None:
    project.git("remote", "add", "origin", "https://user:token-in-url@example.com/acme/game.git")
    sha = project.git("rev-parse", "HEAD")
    committed = project.git("log", "-1", "--format=%cI")

    built = run_json(project, "build")
    image = inspect(f"{project.repository}:0.1.0")
    labels = image["Config"]["Labels"]
    assert built["image_id"] == image["Id"]
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert labels["org.opencontainers.image.revision"] == sha
    assert labels["org.opencontainers.image.created"] == committed
    # credentials embedded in the remote URL never reach a label
    assert labels["org.opencontainers.image.source"] == "https://example.com/acme/game.git"
    env = dict(e.split("=", 1) for e in image["Config"]["Env"])
    assert env["APP_VERSION"] == "0.1.0"
    assert env["APP_REVISION"] == sha

    tagged = run_json(project, "tag")
    today = time.strftime("%Y%m%d", time.gmtime())
    expected = {f"{REGISTRY}/{project.repository}:{t}" for t in ("0.1.0", f"sha-{sha[:7]}", today)}
    assert set(tagged["tags"]) == expected
    assert expected <= local_refs(project.repository)

    first = project.inv("push", check=True)
    assert registry_password not in first.stdout + first.stderr
    digest = first.stdout.strip().splitlines()[-1].removeprefix("digest: ")
    assert digest.startswith("sha256:")
    assert len(digest) == 71
    assert sorted(registry.tags(project.repository)) == sorted(
        t.rsplit(":", 1)[1] for t in expected
    )
    for ref in expected:
        remote = registry.manifest(project.repository, ref.rsplit(":", 1)[1])
        assert remote is not None
        assert remote.digest == digest
        assert remote.config_digest == image["Id"]
    assert (
        f"{REGISTRY}/{project.repository}@{digest}"
        in inspect(f"{project.repository}:0.1.0")["RepoDigests"]
    )

    second = run_json(project, "push")
    assert second["digest"] == digest
    assert [t["skipped"] for t in second["tags"]] == [True, True, True]


def test_latest_is_pushed_only_when_asked_and_never_for_a_prerelease(
    project: Project, registry: OciRegistry
) -> None:
    project.set_version("2.0.0-rc.1")
    project.inv("build", check=True)
    tagged = project.inv("tag", "--latest", check=True)
    assert "latest not applied: 2.0.0-rc.1 is a prerelease" in tagged.stderr
    assert f"{REGISTRY}/{project.repository}:latest" not in local_refs(project.repository)

    project.set_version("2.0.0")
    project.inv("build", check=True)
    project.inv("tag", "--latest", check=True)
    project.inv("push", "--latest", check=True)
    assert "latest" in registry.tags(project.repository)


def test_an_unchanged_commit_builds_the_same_image(project: Project) -> None:
    first = run_json(project, "build")["image_id"]
    docker("image", "rm", f"{project.repository}:0.1.0")
    second = run_json(project, "build")["image_id"]
    assert first == second
    project.commit("another commit")
    third = run_json(project, "build")["image_id"]
    assert third != first  # the revision and created labels moved with the commit


def _build_records(marker: str) -> list[str]:
    """BuildKit cache records of the step whose command contains `marker`."""
    out = docker("buildx", "du", "--verbose")
    ids: list[str] = []
    record_id = ""
    for line in out.splitlines():
        if line.startswith("ID:"):
            record_id = line.split()[1]
        elif line.startswith("Description:") and marker in line:
            ids.append(record_id)
    return ids


def _forget_local_build(project: Project, marker: str) -> None:
    """As if on a fresh CI runner: no local image and no local build cache of the marker step
    (only that step's records are pruned: the engine is shared with other tests)."""
    refs = local_refs(project.repository)
    if refs:
        docker("image", "rm", "-f", *refs)
    for record in _build_records(marker):
        docker("buildx", "prune", "--force", "--filter", f"id={record}", check=False)
    assert _build_records(marker) == []


def _stamp(ref: str) -> str:
    return docker("run", "--rm", "--entrypoint", "/bin/cat", ref, "/stamp")


def test_the_previous_release_in_the_registry_is_used_as_build_cache(project: Project) -> None:
    marker = uuid.uuid4().hex
    dockerfile = project.path / "app" / "Dockerfile"
    copy = "COPY --chmod=0755 handler.sh start.sh /app/\n"
    # a step whose output differs every time it really runs; the last one with a cache record
    # (so that record can be pruned alone), before the version's build args
    step = f'RUN ["/bin/sh", "-c", "echo {marker}; date +%s%N > /stamp"]\n'
    dockerfile.write_text(dockerfile.read_text().replace(copy, copy + step))
    project.commit("stamp step")
    project.inv("build", check=True)
    project.inv("tag", check=True)
    project.inv("push", check=True)
    released = _stamp(f"{project.repository}:0.1.0")

    _forget_local_build(project, marker)
    project.set_version("0.1.1")
    project.commit("next release")
    built = project.inv("build", "--json", check=True)
    assert f"cache from {REGISTRY}/{project.repository}:0.1.0" in built.stderr
    assert _stamp(f"{project.repository}:0.1.1") == released  # the step was not run again

    # control: the same fresh start without the cache runs the step again
    _forget_local_build(project, marker)
    project.append_config("local", "[image]\ncache_from_previous = false")
    project.inv("build", check=True)
    assert _stamp(f"{project.repository}:0.1.1") != released


def test_dry_runs_change_nothing(project: Project, registry: OciRegistry) -> None:
    version_before = (project.path / "version.txt").read_bytes()
    for args in (("version", "--bump", "major"), ("version", "--set", "9.9.9"), ("build",)):
        proc = project.inv(*args, "--dry-run", check=True)
        assert "dry run:" in proc.stdout
        assert "nothing was changed" in proc.stdout
    assert (project.path / "version.txt").read_bytes() == version_before
    assert local_refs(project.repository) == set()

    project.inv("build", check=True)
    images_before = local_refs(project.repository)
    tag_plan = project.inv("tag", "--dry-run", check=True).stdout
    push_plan = project.inv("push", "--dry-run", "--latest", check=True).stdout
    assert f"docker tag {project.repository}:0.1.0 {REGISTRY}/{project.repository}:0.1.0" in (
        tag_plan
    )
    assert f"docker login --username shipyard --password-stdin {REGISTRY}" in push_plan
    assert f"docker push --quiet {REGISTRY}/{project.repository}:latest" in push_plan
    assert local_refs(project.repository) == images_before
    assert registry.tags(project.repository) == []  # nothing was written to the registry
    assert (project.path / "version.txt").read_bytes() == version_before


def test_tagging_or_pushing_an_image_not_built_is_one_line_and_tags_nothing(
    project: Project,
) -> None:
    for task in ("tag", "push"):
        proc = project.inv(task)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip() == (
            f"error: image {project.repository}:0.1.0 is not built (run inv build first)"
        ), proc.stderr
    assert local_refs(project.repository) == set()


def test_the_login_password_never_reaches_argv_or_output(
    project: Project, tmp_path: Path, registry_password: str
) -> None:
    real = shutil.which("docker")
    assert real
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    log = tmp_path / "argv.log"
    shim = shim_dir / "docker"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\nexec {real} "$@"\n')
    shim.chmod(0o755)
    path = f"{shim_dir}:{project.env['PATH']}"
    project.inv("build", check=True, extra_env={"PATH": path})
    project.inv("tag", check=True, extra_env={"PATH": path})
    proc = project.inv("push", "--debug", check=True, extra_env={"PATH": path})
    calls = log.read_text()
    assert "login --username shipyard --password-stdin 127.0.0.1:5000" in calls
    assert "push" in calls
    assert registry_password not in calls
    assert registry_password not in proc.stdout + proc.stderr


def test_a_login_another_docker_login_dropped_is_made_again(
    project: Project, tmp_path: Path
) -> None:
    """Between our `docker login` and `docker push`, another login on the machine rewrote the
    docker config without our entry (a shim logs out once, in a private DOCKER_CONFIG)."""
    real = shutil.which("docker")
    assert real
    shim_dir, once = tmp_path / "shim", tmp_path / "logged-out"
    shim_dir.mkdir()
    (shim_dir / "docker").write_text(
        f'#!/bin/sh\nif [ "$1" = push ] && [ ! -e {once} ]; then\n'
        f'  touch {once}; {real} logout {REGISTRY} >/dev/null\nfi\nexec {real} "$@"\n'
    )
    (shim_dir / "docker").chmod(0o755)
    project.inv("build", check=True)
    project.inv("tag", check=True)
    private = {"PATH": f"{shim_dir}:{project.env['PATH']}", "DOCKER_CONFIG": str(tmp_path / "c")}
    proc = project.inv("push", "--json", check=True, extra_env=private)
    assert once.exists(), "the shim never logged out: the test proved nothing"
    assert f"docker lost the login to {REGISTRY}" in proc.stderr
    assert all(t["digest"].startswith("sha256:") for t in json.loads(proc.stdout)["tags"])


# -- the sample app, in a real container ---------------------------------------------------------


@pytest.fixture
def run_container() -> Iterator[list[str]]:
    started: list[str] = []
    yield started
    for name in started:
        docker("rm", "-f", name, check=False)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _serve(image: str, started: list[str]) -> str:
    port = free_port()
    name = f"shipyard-test-{uuid.uuid4().hex[:10]}"
    started.append(name)
    docker("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", image)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            _get(f"{base}/version")
            return base
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_sample_app_serves_health_and_its_baked_version(
    project: Project, run_container: list[str]
) -> None:
    project.set_version("1.2.3")
    project.inv("build", check=True)
    base = _serve(f"{project.repository}:1.2.3", run_container)
    assert _get(f"{base}/health") == (200, "ok\n")
    assert _get(f"{base}/version") == (200, "1.2.3\n")
    assert _get(f"{base}/nope")[0] == 404


def test_the_sample_app_built_unhealthy_answers_500(
    project: Project, run_container: list[str]
) -> None:
    project.inv("build", "--build-arg", "HEALTHY=false", check=True)
    base = _serve(f"{project.repository}:0.1.0", run_container)
    assert _get(f"{base}/health")[0] == 500
    assert _get(f"{base}/version") == (200, "0.1.0\n")


def test_build_tag_push_in_one_command_with_the_repository_from_the_environment(
    project: Project, registry: OciRegistry
) -> None:
    repository = f"{project.repository}env"
    try:
        proc = project.inv("build", "tag", "push", extra_env={"ECR_REPOSITORY": repository})
        assert proc.returncode == 0, proc.stderr
        assert "digest: sha256:" in proc.stdout
        assert "0.1.0" in registry.tags(repository)
        assert registry.tags(project.repository) == []
    finally:
        refs = local_refs(repository)
        if refs:
            docker("image", "rm", "-f", *refs, check=False)


class _CountingForward(BaseHTTPRequestHandler):
    """Forwards GET and HEAD to the local registry (headers, status and body as they are) and
    records each request line: what a push asked the registry."""

    seen: ClassVar[list[str]] = []

    def _forward(self) -> None:
        type(self).seen.append(f"{self.command} {self.path}")
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        request = urllib.request.Request(
            f"http://{REGISTRY}{self.path}", headers=headers, method=self.command
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, sent, body = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as exc:
            status, sent, body = exc.code, exc.headers, exc.read()
        self.send_response(status)
        for name, value in sent.items():
            if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _forward

    def log_message(self, *_args: object) -> None:
        return


def test_an_unchanged_push_reads_each_tags_manifest_once_and_nothing_more(
    project: Project,
) -> None:
    """The version tag's guard against a moved version and the skip share one manifest read
    per tag; no login, no blob, no docker push."""
    project.inv("build", "tag", "push", check=True)
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _CountingForward)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    through = f"127.0.0.1:{server.server_address[1]}"
    local = project.path / "deploy" / "environments" / "local.toml"
    local.write_text(local.read_text().replace(f'url = "{REGISTRY}"', f'url = "{through}"'))
    try:
        project.inv("tag", check=True)
        _CountingForward.seen.clear()
        pushed = run_json(project, "push")
    finally:
        server.shutdown()
        refs = [r for r in local_refs(project.repository) if r.startswith(through)]
        docker("image", "rm", *refs, check=False)
    assert [t["skipped"] for t in pushed["tags"]] == [True, True, True]
    tags = sorted(t["ref"].rsplit(":", 1)[1] for t in pushed["tags"])
    assert sorted(_CountingForward.seen) == sorted(
        f"GET /v2/{project.repository}/manifests/{tag}" for tag in tags
    )
