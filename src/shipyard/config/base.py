from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Section(BaseModel):
    """Every config section: unknown keys are errors, values never change after load, and
    values are taken as written: `proxy_port = "8080"` or `latest = "yes"` is an error, not
    a number or a boolean (strict mode; an int is still accepted where a float is expected)."""

    # defer_build: validators are built on first use, so start-up pays only for the
    # sections (and union members) a configuration actually contains
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, strict=True)


class SecretRef(Section):
    """Where a secret lives. Exactly one of the fields is set; the value itself is never
    written in a config file. A `file` path is relative to the project root (`~` expands) and
    must lie inside the directories SecretsConfig allows."""

    env: str | None = Field(default=None, description="an environment variable's name")
    ssm: str | None = Field(default=None, description="an SSM parameter's name (decrypted)")
    secretsmanager: str | None = Field(default=None, description="a Secrets Manager ARN or name")
    file: str | None = Field(
        default=None,
        description="a file, relative to the project root; inside the directories [secrets] allows",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        set_fields = [k for k in ("env", "ssm", "secretsmanager", "file") if getattr(self, k)]
        if len(set_fields) != 1:
            raise ValueError(
                "a secret reference needs exactly one of env, ssm, secretsmanager, file"
            )
        return self

    def describe(self) -> str:
        for kind in ("env", "ssm", "secretsmanager", "file"):
            value = getattr(self, kind)
            if value:
                return f"{kind}:{value}"
        return "?"


class SecretsConfig(Section):
    """Where `file` secret references may be read from.

    Any reference may read inside the project, which holds the environment's state directory
    (.shipyard/<env>/, where the local target generates development secrets). Anything else
    must be allowed here. The check runs on the real path, every symlink resolved, so a link
    inside an allowed directory cannot lead out of it.

    Two lists, because the two kinds of secret go to different places. A secret delivered
    into a container (a task definition's `secrets`) is handed to the image's code, which
    can print or send it anywhere: only `file_roots` extend where those come from. shipyard's
    own credentials (registry.password, notify tokens) are only handed to the registry or the
    notification service: they may also come from `credential_file_roots`, whose default is
    the machine state directory where scripts/bootstrap.sh writes the local registry's
    password (deploy/environments/local.toml reads /var/lib/shipyard/registry/password).
    """

    file_roots: list[str] = Field(
        default_factory=list,
        description="directories outside the project that any file: reference may read, "
        "secrets delivered into containers included (e.g. /etc/myapp); a relative path "
        "is taken from the project root",
    )
    credential_file_roots: list[str] = Field(
        default_factory=lambda: ["/var/lib/shipyard"],
        description="directories that shipyard's own credentials (registry.password, notify "
        "tokens) may also be read from, never a secret delivered into a container; by default "
        "the machine state directory that scripts/bootstrap.sh writes the local registry's "
        "password to",
    )
