"""The one factory that builds adapters from config. Operations receive a Context and ask it
for what they need; nothing creates a client at import time.

Each adapter module is imported by the method that needs it: `inv version` never pays for
the Docker, ECR, OCI registry, git or secret-store adapters it does not use."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.config.base import SecretRef
from shipyard.config.model import ShipyardConfig
from shipyard.console import Console
from shipyard.records import record
from shipyard.secrets import Secret, register_login

if TYPE_CHECKING:
    from shipyard.adapters.aws import AwsClients
    from shipyard.adapters.docker import DockerEngine
    from shipyard.adapters.git import Checkout
    from shipyard.adapters.registry import Registry


@record(frozen=False)
class Context:
    config: ShipyardConfig
    root: Path
    console: Console = field(default_factory=Console)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def environment(self) -> str:
        return self.config.environment

    @cached_property
    def docker(self) -> DockerEngine:
        from shipyard.adapters.docker import DockerEngine

        return DockerEngine()

    @cached_property
    def git(self) -> Checkout:
        from shipyard.adapters.git import Checkout

        return Checkout(self.root, self.environ)

    @cached_property
    def aws(self) -> AwsClients:
        from shipyard.adapters.aws import AwsClients

        return AwsClients(self.config.aws)

    @cached_property
    def registry(self) -> Registry:
        from shipyard.adapters.ecr import EcrRegistry
        from shipyard.adapters.registry import Credentials, OciRegistry

        reg = self.config.registry
        if reg.kind == "oci":
            creds = None
            if reg.username and reg.password:
                creds = Credentials(reg.username, self.secret(reg.password))
                register_login(reg.username, creds.password)
            return OciRegistry(reg.url, creds, tls=reg.tls)

        return EcrRegistry.from_config(self.config, self.aws)

    def secret(self, ref: SecretRef, *, into_container: bool = False) -> Secret:
        """Resolve `ref`. `into_container`: the value is delivered into a container, whose
        code is not shipyard's, so a file reference gets only secret_roots(into_container)."""
        from shipyard.adapters.secret_store import resolve

        aws = self.aws if (ref.ssm or ref.secretsmanager) else None
        roots = self.secret_roots(into_container=into_container)
        return resolve(ref, root=self.root, roots=roots, aws=aws, environ=self.environ)

    def secret_roots(self, *, into_container: bool = False) -> list[Path]:
        """Where file references may resolve (SecretsConfig): the project, the environment's
        state directory, secrets.file_roots and, for shipyard's own credentials only,
        secrets.credential_file_roots."""
        cfg = self.config.secrets
        extra = cfg.file_roots + ([] if into_container else cfg.credential_file_roots)
        return [
            self.root,
            self.root / ".shipyard" / self.environment,
            *(self.path(str(Path(r).expanduser())) for r in extra),
        ]

    def secret_path(self, ref: SecretRef, *, into_container: bool = False) -> Path:
        """The real path of a file reference, refused (UsageError) outside secret_roots."""
        from shipyard.adapters.secret_store import contained

        return contained(
            ref, root=self.root, roots=self.secret_roots(into_container=into_container)
        )

    @property
    def state_dir(self) -> Path:
        """Where records of this environment live (history, lock, proxy config)."""
        path = self.root / ".shipyard" / self.environment
        path.mkdir(parents=True, exist_ok=True)
        return path

    def path(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else self.root / p
