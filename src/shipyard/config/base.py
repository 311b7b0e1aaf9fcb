from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator


class Section(BaseModel):
    """Every config section: unknown keys are errors, values never change after load, and
    values are taken as written: `proxy_port = "8080"` or `latest = "yes"` is an error, not
    a number or a boolean (strict mode; an int is still accepted where a float is expected)."""

    # defer_build: validators are built on first use, so start-up pays only for the
    # sections (and union members) a configuration actually contains
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, strict=True)


class SecretRef(Section):
    """Where a secret lives. Exactly one of the fields is set; the value itself is never
    written in a config file."""

    env: str | None = None
    ssm: str | None = None
    secretsmanager: str | None = None
    file: str | None = None

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
