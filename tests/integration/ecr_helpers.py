"""Helpers shared by the ECR tests: a Context for an ECR environment of a throwaway project,
and images put into moto's ECR through the real API (distinct manifests, real digests)."""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from typing import Any

from shipyard.config.loader import load_config
from shipyard.console import Console
from shipyard.context import Context

ACCOUNT = "123456789012"  # moto's default account
REGION = "ap-northeast-2"
SERVER = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


@dataclass
class Captured:
    out: io.StringIO = field(default_factory=io.StringIO)
    err: io.StringIO = field(default_factory=io.StringIO)

    @property
    def console(self) -> Console:
        return Console(self.out, self.err)

    def text(self) -> str:
        return self.out.getvalue() + self.err.getvalue()


def ecr_context(
    root: Any, env: str = "staging", captured: Captured | None = None, **extra_env: str
) -> Context:
    environ = {**os.environ, **extra_env}
    config = load_config(env, root=root, environ=environ)
    console = (captured or Captured()).console
    return Context(config=config, root=root, console=console, environ=environ)


def manifest(n: int, *, config_digest: str | None = None) -> tuple[str, str]:
    """A distinct docker v2 manifest and its digest (what ECR computes: sha256 of the bytes)."""
    layer = hashlib.sha256(f"layer-{n}".encode()).hexdigest()
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1000 + n,
            "digest": config_digest
            or "sha256:" + hashlib.sha256(f"config-{n}".encode()).hexdigest(),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 10 + n,
                "digest": f"sha256:{layer}",
            }
        ],
    }
    text = json.dumps(doc, separators=(",", ":"))
    return text, "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def put(ecr: Any, repository: str, n: int, *tags: str, config_digest: str | None = None) -> str:
    """Put image n under every tag (none: untagged); returns its digest."""
    text, digest = manifest(n, config_digest=config_digest)
    for tag in tags or (None,):
        kwargs: dict[str, Any] = {
            "repositoryName": repository,
            "imageManifest": text,
            "imageDigest": digest,
        }
        if tag is not None:
            kwargs["imageTag"] = tag
        ecr.put_image(**kwargs)
    return digest
