"""Secrets on disk: where a `file:` reference may read, what an env file can carry, and the
mode of every file shipyard writes a secret into.

* A secret delivered into a container comes from the project (its state directory included)
  or a directory the config allows ([secrets] file_roots), judged after every symlink is
  resolved; shipyard's own credentials may also come from [secrets] credential_file_roots
  (by default /var/lib/shipyard, where scripts/bootstrap.sh puts the local registry's).
* Docker's --env-file has no quoting: a value with a line break or NUL is refused, naming
  the reference, never the value.
* Generated secrets and env files are 0600 from their first byte: never written with a wider
  mode and narrowed afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.adapters.containers import write_env_file
from shipyard.config import load_config, validate
from shipyard.config.base import SecretRef, SecretsConfig
from shipyard.config.model import ShipyardConfig
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import UsageError
from shipyard.secrets import Secret
from shipyard.targets.local_runtime import generated_secret
from tests.conftest import REGISTRY_PASSWORD_FILE, REPO, Project, free_port

REGISTRY_REF = SecretRef(file=str(REGISTRY_PASSWORD_FILE))


def _ctx(root: Path, secrets: SecretsConfig | None = None) -> Context:
    config = ShipyardConfig(environment="local", secrets=secrets or SecretsConfig())
    return Context(config=config, root=root, console=Console(quiet=True), environ={})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    (path / ".shipyard" / "local" / "secrets").mkdir(parents=True)
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere"
    path.mkdir()
    (path / "pw").write_text("outside-secret-value\n")
    return path


# -- where file: references may read -----------------------------------------------------------
def test_a_file_inside_the_project_or_its_state_directory_is_read(root: Path) -> None:
    (root / "pw").write_text("in-the-project\n")
    (root / ".shipyard" / "local" / "secrets" / "db").write_text("in-the-state-dir\n")
    ctx = _ctx(root)
    assert ctx.secret(SecretRef(file="pw"), into_container=True).reveal() == "in-the-project"
    db = SecretRef(file=".shipyard/local/secrets/db")
    assert ctx.secret(db, into_container=True).reveal() == "in-the-state-dir"


def _refusal(ctx: Context, ref: SecretRef, *, into_container: bool = True) -> str:
    with pytest.raises(UsageError) as caught:
        ctx.secret(ref, into_container=into_container)
    assert caught.value.exit_code == 2
    line = caught.value.one_line()
    assert "\n" not in line
    assert ref.describe() in line  # the reference, as written
    assert "outside-secret-value" not in line
    return line


def test_an_absolute_path_outside_is_refused_naming_the_allowed_roots(
    root: Path, outside: Path
) -> None:
    line = _refusal(_ctx(root), SecretRef(file=str(outside / "pw")))
    assert str(root) in line
    assert str(root / ".shipyard" / "local") in line
    assert "secrets.file_roots" in line


def test_dot_dot_out_of_the_project_is_refused(root: Path, outside: Path) -> None:
    _refusal(_ctx(root), SecretRef(file="../elsewhere/pw"))


def test_a_symlink_out_of_the_project_is_refused(root: Path, outside: Path) -> None:
    (root / "link").symlink_to(outside / "pw")
    (root / ".shipyard" / "local" / "secrets" / "db").symlink_to(outside / "pw")
    (root / "dir").symlink_to(outside)
    for rel in ("link", ".shipyard/local/secrets/db", "dir/pw"):
        line = _refusal(_ctx(root), SecretRef(file=rel))
        assert str(outside / "pw") in line  # where it really leads


def test_a_symlink_that_stays_inside_is_followed(root: Path) -> None:
    (root / "real").write_text("inside-value\n")
    (root / "link").symlink_to(root / "real")
    assert _ctx(root).secret(SecretRef(file="link"), into_container=True).reveal() == (
        "inside-value"
    )


def test_file_roots_allow_a_directory_outside_but_not_a_link_out_of_it(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    ctx = _ctx(root, SecretsConfig(file_roots=[str(outside)]))
    ref = SecretRef(file=str(outside / "pw"))
    assert ctx.secret(ref, into_container=True).reveal() == "outside-secret-value"
    third = tmp_path / "third"
    third.mkdir()
    (third / "pw").write_text("third-value\n")
    (outside / "link").symlink_to(third / "pw")
    line = _refusal(ctx, SecretRef(file=str(outside / "link")))
    assert str(outside) in line


def test_credential_roots_serve_credentials_only(root: Path, outside: Path) -> None:
    ctx = _ctx(root, SecretsConfig(credential_file_roots=[str(outside)]))
    ref = SecretRef(file=str(outside / "pw"))
    assert ctx.secret(ref).reveal() == "outside-secret-value"  # a credential of shipyard's
    _refusal(ctx, ref, into_container=True)  # never into a container


def test_the_local_registry_password_still_resolves_but_never_into_a_container(
    registry_password: str,
) -> None:
    config = load_config("local", root=REPO, environ={})
    assert config.secrets.credential_file_roots == ["/var/lib/shipyard"]
    ctx = Context(config=config, root=REPO, console=Console(quiet=True), environ={})
    creds = ctx.registry.credentials()
    assert creds is not None
    assert creds.password.reveal() == registry_password
    _refusal(ctx, REGISTRY_REF, into_container=True)


def test_the_secrets_section_is_documented_and_strict(root: Path) -> None:
    fields = {f.name: f for f in dataclasses.fields(SecretsConfig)}
    assert fields["file_roots"].metadata["description"]
    assert fields["credential_file_roots"].metadata["description"]
    with pytest.raises(ValueError, match="file_root"):
        validate.section(SecretsConfig, {"file_root": ["/etc"]})


# -- through the real local target --------------------------------------------------------------
@pytest.fixture
def local_project(project: Project) -> Project:
    """The project with its proxy on a free port (never 8080)."""
    toml = project.path / "deploy" / "environments" / "local.toml"
    toml.write_text(toml.read_text().replace("proxy_port = 8080", f"proxy_port = {free_port()}"))
    project.commit("free port")
    return project


def _set_value_from(project: Project, value_from: str) -> None:
    path = project.path / "deploy" / "taskdef" / "local.json"
    doc = json.loads(path.read_text())
    doc["containerDefinitions"][0]["secrets"][0]["valueFrom"] = value_from
    path.write_text(json.dumps(doc, indent=2) + "\n")


def _refused(project: Project, *needles: str) -> str:
    before = (project.path / "version.txt").read_bytes()
    proc = project.inv("release", "--env", "local", "--bump", "patch", timeout=60)
    shown = proc.stdout + proc.stderr
    assert proc.returncode == 2, shown
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, shown
    assert proc.stderr.rstrip().splitlines()[-1] == errors[0]
    assert "Traceback" not in shown
    assert "deploy/taskdef/local.json" in errors[0]
    assert "containerDefinitions[gamepulse].secrets[0].valueFrom" in errors[0]
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert (project.path / "version.txt").read_bytes() == before
    assert not (project.path / ".shipyard" / "local" / "history.json").exists()
    return errors[0]


@pytest.mark.parametrize(
    "value_from",
    ["file:/var/lib/shipyard/registry/password", "file:../outside/pw", "file:linked-out"],
)
def test_release_refuses_an_app_secret_from_outside_the_roots(
    local_project: Project, value_from: str
) -> None:
    outside = local_project.path.parent / "outside"
    outside.mkdir()
    (outside / "pw").write_text("outside-secret-value\n")
    (local_project.path / "linked-out").symlink_to(outside / "pw")
    _set_value_from(local_project, value_from)
    line = _refused(local_project, value_from, str(local_project.path), "secrets.file_roots")
    assert "outside-secret-value" not in line


def test_release_with_file_roots_accepts_that_directory(local_project: Project) -> None:
    outside = local_project.path.parent / "outside"
    outside.mkdir()
    (outside / "pw").write_text("outside-secret-value\n")
    _set_value_from(local_project, f"file:{outside / 'pw'}")
    local_project.append_config("local", f'[secrets]\nfile_roots = ["{outside}"]')
    proc = local_project.inv("release", "--env", "local", "--dry-run", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "outside-secret-value" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("value", ["zz-first\nzz-second", "zz-nul\x00zz-after", "zz-cr\rzz-after"])
def test_release_refuses_a_secret_an_env_file_cannot_carry(
    local_project: Project, value: str
) -> None:
    secrets = local_project.path / ".shipyard" / "local" / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "db-password").write_text(value + "\n")
    line = _refused(local_project, "file:.shipyard/local/secrets/db-password", "base64")
    assert "zz-" not in line


# -- the env file -------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["a\nB=injected", "a\rb", "a\x00b"])
def test_write_env_file_refuses_a_line_break_or_nul(tmp_path: Path, value: str) -> None:
    env_dir = tmp_path / "run"
    with pytest.raises(UsageError) as caught:
        write_env_file(env_dir, {"OK": Secret("fine-value"), "DB": Secret(value, "file:db")})
    line = caught.value.one_line()
    assert caught.value.exit_code == 2
    assert "file:db" in line
    assert "DB" in line
    assert "injected" not in line
    assert "base64" in line
    assert not env_dir.exists() or list(env_dir.iterdir()) == []  # nothing written


@pytest.mark.parametrize("key", ["A=B", "A B", "A\nB"])
def test_write_env_file_refuses_a_name_that_would_split(tmp_path: Path, key: str) -> None:
    with pytest.raises(UsageError, match="cannot be an environment variable name"):
        write_env_file(tmp_path / "run", {key: Secret("fine-value")})


# -- modes from the first byte ------------------------------------------------------------------
_chmods: list[Any] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _chmods is not None and event == "os.chmod":
        _chmods.append(args)


@pytest.fixture
def no_chmod() -> Iterator[list[Any]]:
    """os.chmod/fchmod calls made meanwhile (an audit hook: it sees the real calls), under
    umask 0, so a file created with a wide mode would show it."""
    global _chmods
    if not getattr(sys, "_shipyard_test_audit", False):
        sys.addaudithook(_audit)
        sys._shipyard_test_audit = True  # type: ignore[attr-defined]
    _chmods = []
    old = os.umask(0)
    try:
        yield _chmods
    finally:
        os.umask(old)
        _chmods = None


def test_a_generated_secret_is_0600_from_its_first_byte(
    tmp_path: Path, no_chmod: list[Any]
) -> None:
    path = tmp_path / "state" / "secrets" / "db-password"
    value = generated_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert no_chmod == []
    assert path.read_text() == value + "\n"
    assert len(value) >= 24


def test_an_env_file_is_0600_from_its_first_byte(tmp_path: Path, no_chmod: list[Any]) -> None:
    path = write_env_file(tmp_path / "run", {"DB": Secret("fine-value")})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert no_chmod == []
    assert path.read_text() == "DB=fine-value\n"


def test_a_generated_secret_never_overwrites_or_follows_a_link(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("keep\n")
    link = tmp_path / "secrets" / "db-password"
    link.parent.mkdir()
    link.symlink_to(target)
    with pytest.raises(FileExistsError):
        generated_secret(link)
    assert target.read_text() == "keep\n"
