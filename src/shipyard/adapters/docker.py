"""The Docker engine: the docker CLI for every command shipyard plans (commands.py builds
each argv, the same value --dry-run prints), python-on-whales (imported lazily: `inv --list`
stays fast) for inspecting what the engine holds."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from shipyard.commands import (
    Command,
    docker_build,
    docker_image_inspect,
    docker_image_ls,
    docker_login,
    docker_push,
    docker_tag,
    docker_version,
)
from shipyard.errors import BuildFailed, RegistryError, ShipyardError, ToolUnavailable
from shipyard.images import BuildRequest
from shipyard.secrets import Secret, redact

if TYPE_CHECKING:
    from python_on_whales import DockerClient

ENGINE_HINT = "start it with scripts/bootstrap.sh (or `dockerd &` as root) and try again"


def _whales() -> Any:
    import python_on_whales

    return python_on_whales


def docker_error_text(exc: BaseException) -> str:
    stderr = getattr(exc, "stderr", None) or ""
    stdout = getattr(exc, "stdout", None) or ""
    text = (stderr or stdout or str(exc)).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return redact(lines[-1] if lines else text)


class CliFailed(Exception):
    """A docker command failed; the message is the last line of its stderr, redacted."""


# (version, os/arch) by engine address, for this process
_PINGED: dict[tuple[str, ...], tuple[str, str]] = {}


def _engine_address() -> tuple[str, ...]:
    """What decides which engine the docker command talks to."""
    return tuple(os.environ.get(k, "") for k in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG"))


class DockerEngine:
    def __init__(self, client: DockerClient | None = None) -> None:
        self._client = client
        self.native_platform: str | None = None  # os/arch of the engine, known after ping()
        self._version: str | None = None

    @property
    def client(self) -> DockerClient:
        if self._client is None:
            self._client = _whales().DockerClient()
        return self._client

    def _call(
        self, what: str, fn: Callable[[], Any], *, failure: type[ShipyardError] = ToolUnavailable
    ) -> Any:
        """Run a python-on-whales call; an engine that does not answer is ToolUnavailable,
        any other refusal `failure` with docker's last line."""
        w = _whales()
        try:
            return fn()
        except w.exceptions.DockerException as exc:
            text = docker_error_text(exc)
            if "Cannot connect to the Docker daemon" in text or "docker.sock" in text:
                raise ToolUnavailable(
                    "the Docker engine is not answering", hint=ENGINE_HINT
                ) from None
            raise failure(f"docker {what} failed: {text}") from exc

    def _cli(self, cmd: Command, *, timeout: float = 120) -> str:
        """Run a docker command as built in commands.py (no stdin). Returns stdout; raises
        ToolUnavailable or CliFailed with the last line of docker's stderr (redacted)."""
        return self._finish(self._start(cmd), cmd, timeout)

    @staticmethod
    def _start(cmd: Command) -> subprocess.Popen[str]:
        try:
            return subprocess.Popen(
                list(cmd.argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except FileNotFoundError:
            raise ToolUnavailable(
                "the docker command is not installed", hint="run scripts/bootstrap.sh"
            ) from None

    @staticmethod
    def _finish(proc: subprocess.Popen[str], cmd: Command, timeout: float) -> str:
        with proc:
            try:
                stdout, stderr = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise ToolUnavailable(
                    f"docker {cmd.argv[1]} did not finish in {timeout:.0f}s", hint=ENGINE_HINT
                ) from None
        if proc.returncode == 0:
            return stdout
        lines = [ln for ln in (stderr or stdout).strip().splitlines() if ln.strip()]
        text = redact(lines[-1] if lines else f"exit code {proc.returncode}")
        if "cannot connect to the docker daemon" in text.lower():
            raise ToolUnavailable("the Docker engine is not answering", hint=ENGINE_HINT)
        raise CliFailed(text)

    def ping(self) -> str:
        """The engine's version; ToolUnavailable when no engine answers. Asked once per
        engine address and process: the steps of one pipeline, and the tasks of one command
        line (`inv build tag push`, each with its own context), share the answer. An engine
        that stops later fails the next docker command with the same words."""
        if self._version is not None:
            return self._version
        key = _engine_address() if self._client is None else None
        answer = _PINGED.get(key) if key else None
        if answer is None:
            answer = self._ask_version()
            if key:
                _PINGED[key] = answer
        self._version, self.native_platform = answer
        return answer[0]

    def _ask_version(self) -> tuple[str, str]:
        try:
            answer = self._cli(docker_version(), timeout=30).split()
        except CliFailed:
            raise ToolUnavailable("the Docker engine is not answering", hint=ENGINE_HINT) from None
        if len(answer) != 2:
            raise ToolUnavailable("the Docker engine is not answering", hint=ENGINE_HINT)
        return answer[0], answer[1]

    def builder(self) -> tuple[str, list[str]]:
        """(driver, platforms) of the current buildx builder."""
        w = _whales()
        try:
            builder = self.client.buildx.inspect()
        except w.exceptions.DockerException as exc:
            text = docker_error_text(exc)
            if "is not a docker command" in text or "unknown command" in text:
                raise ToolUnavailable(
                    "the docker buildx plugin is not installed",
                    hint="scripts/bootstrap.sh installs it into ~/.docker/cli-plugins",
                ) from None
            raise ToolUnavailable(f"docker buildx inspect failed: {text}") from None
        platforms: list[str] = []
        for node in builder.nodes or []:
            platforms += [str(p) for p in (node.platforms or [])]
        return str(builder.driver), platforms

    def build(self, request: BuildRequest, on_line: Callable[[str], None] | None = None) -> str:
        """Run commands.docker_build(request), streaming its log; return the image id (for
        --load builds) or '' for pushed multi-arch builds."""
        tail = self._stream(docker_build(request), on_line)
        if tail is not None:
            text = tail[-1] if tail else "no output"
            if "cannot connect to the docker daemon" in text.lower():
                raise ToolUnavailable("the Docker engine is not answering", hint=ENGINE_HINT)
            detail = next((t for t in reversed(tail) if "ERROR" in t or "error" in t), text)
            raise BuildFailed(f"image build failed: {detail}")
        if request.push:
            return ""
        return self.image_id(request.tags[0]) or ""

    @staticmethod
    def _stream(cmd: Command, on_line: Callable[[str], None] | None) -> list[str] | None:
        """Run `cmd` with stdout and stderr merged, one redacted line at a time; None when it
        succeeded, else the last lines it wrote."""
        tail: list[str] = []
        try:
            proc = subprocess.Popen(
                list(cmd.argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
        except FileNotFoundError:
            raise ToolUnavailable(
                "the docker command is not installed", hint="run scripts/bootstrap.sh"
            ) from None
        with proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                text = redact(line.rstrip())
                tail = [*tail, text][-15:]
                if on_line:
                    on_line(text)
        return None if proc.returncode == 0 else tail

    def image_id(self, ref: str) -> str | None:
        try:
            return self._cli(docker_image_inspect(ref, "{{.Id}}")).strip() or None
        except CliFailed as exc:
            if "no such image" in str(exc).lower():
                return None
            raise ToolUnavailable(f"docker image inspect failed: {exc}") from None

    def image_tags(self, ref: str) -> tuple[str, set[str]] | None:
        """(image id, every name:tag pointing at it) in one call; None when not there."""
        try:
            out = self._cli(docker_image_inspect(ref, "{{.Id}} {{json .RepoTags}}"))
        except CliFailed as exc:
            if "no such image" in str(exc).lower():
                return None
            raise ToolUnavailable(f"docker image inspect failed: {exc}") from None

        image_id, _, tags = out.strip().partition(" ")
        return image_id, set(json.loads(tags or "[]") or [])

    def image_labels(self, ref: str) -> dict[str, str]:
        image = self._call("image inspect", lambda: self.client.image.inspect(ref))
        return dict(image.config.labels or {})

    def repo_digests(self, ref: str) -> list[str]:
        image = self._call("image inspect", lambda: self.client.image.inspect(ref))
        return [str(d) for d in (image.repo_digests or [])]

    def tag_all(self, source: str, targets: Sequence[str]) -> bool:
        """Tag `source` as every target; the docker commands run side by side, each being a
        round trip to the engine. False when the engine holds no image `source`; another
        refusal is ToolUnavailable naming the first target (in order) that failed."""
        commands = [docker_tag(source, target) for target in targets]
        started = [self._start(cmd) for cmd in commands]
        refused: list[tuple[str, str]] = []
        for target, cmd, proc in zip(targets, commands, started, strict=True):
            try:
                self._finish(proc, cmd, 120)
            except CliFailed as exc:
                refused.append((target, str(exc)))
        if any("no such image" in text.lower() for _, text in refused):
            return False
        if refused:
            target, text = refused[0]
            raise ToolUnavailable(f"docker tag {source} {target} failed: {text}")
        return True

    def login(self, server: str, username: str, password: Secret) -> None:
        """docker login with the password on stdin; docker's own chatter is kept quiet."""

        try:
            proc = subprocess.run(
                list(docker_login(server, username).argv),
                input=password.reveal(),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except FileNotFoundError:
            raise ToolUnavailable(
                "the docker command is not installed", hint="run scripts/bootstrap.sh"
            ) from None
        except subprocess.TimeoutExpired:
            raise RegistryError(
                f"docker login {server} timed out", hint="is the registry reachable?"
            ) from None
        if proc.returncode == 0:
            return
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        text = redact(lines[-1] if lines else f"exit code {proc.returncode}")
        low = text.lower()
        if "cannot connect to the docker daemon" in low:
            raise ToolUnavailable("the Docker engine is not answering", hint=ENGINE_HINT)
        if "unauthorized" in low or "401" in low or "incorrect username or password" in low:
            raise RegistryError(
                f"registry {server} refused the login for user {username!r}",
                hint="check the registry credentials the config refers to",
            )
        if "connection refused" in low or "no such host" in low or "dial tcp" in low:
            raise RegistryError(
                f"cannot reach registry {server}",
                hint="is it running? scripts/bootstrap.sh starts the local one",
            )
        raise RegistryError(f"docker login {server} failed: {text}")

    def push(self, ref: str) -> None:
        try:
            self._cli(docker_push(ref), timeout=1800)
        except CliFailed as exc:
            text = str(exc)
            low = text.lower()
            if "unauthorized" in low or "authentication required" in low or "denied" in low:
                raise RegistryError(
                    f"the registry refused to push {ref}: {text}",
                    hint="log in again (inv push does) or check the account's permissions",
                ) from None
            if "connection refused" in low or "no such host" in low or "dial tcp" in low:
                raise RegistryError(
                    f"cannot reach the registry for {ref}",
                    hint="is it running? scripts/bootstrap.sh starts the local one",
                ) from None
            raise RegistryError(f"docker push {ref} failed: {text}") from None

    def local_tags(self, repository: str) -> list[str]:
        """Tags of `repository` held by the engine."""
        try:
            out = self._cli(docker_image_ls(repository))
        except CliFailed as exc:
            raise ToolUnavailable(f"docker image ls failed: {exc}") from None
        return sorted({t for t in out.split() if t and t != "<none>"})

    def remove_image(self, ref: str) -> None:
        self._call("image rm", lambda: self.client.image.remove(ref, force=False, prune=True))
