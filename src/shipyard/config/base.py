"""The base of every config section, and the two sections every other one may hold.

Sections are frozen stdlib dataclasses, so reading a configuration (a cache hit) never imports
pydantic. pydantic only validates, on a cache miss (shipyard.config.validate): it reads each
field's `metadata` as its Field() arguments (the description, pattern, ge, min_length...), the
class's `__pydantic_config__` as its model config, a `Check` in an annotation as a field's own
rule, and a ValueError from `__post_init__` as the whole section's rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any, ClassVar, TypeVar, dataclass_transform

from shipyard.records import record


def about(description: str, **rules: Any) -> dict[str, Any]:
    """A field's metadata: its description (the generated docs show it) and pydantic's Field()
    constraints (pattern, ge, min_length, discriminator...), checked on validation only."""
    return {"description": description, **rules}


class Check:
    """A field's own rule: `Annotated[list[str], Check(rule)]`. `rule` gets the value once its
    type is validated and returns it, or a normalised one; a ValueError it raises is reported at
    the field, as "Value error, <sentence>". Constructing a section directly runs no rule."""

    def __init__(self, rule: Callable[[Any], Any]) -> None:
        self.rule = rule

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], Any]) -> Any:
        # only pydantic calls this, while shipyard.config.validate builds its validator
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.rule, handler(source))


class Section:
    """Every config section: unknown keys are errors, values never change after load, and
    values are taken as written: `proxy_port = "8080"` or `latest = "yes"` is an error, not
    a number or a boolean (strict mode; an int is still accepted where a float is expected)."""

    __pydantic_config__ = {"extra": "forbid", "strict": True}
    __dataclass_fields__: ClassVar[dict[str, Any]]  # every section is a dataclass

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        # In strict mode pydantic takes only an instance for a dataclass (a model also took a
        # dict, a TOML table): the section itself is lax, its fields stay strict.
        schema = handler(source)
        handler.resolve_ref_schema(schema)["strict"] = False
        return schema


S = TypeVar("S", bound=Section)


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
def config_section(cls: type[S]) -> type[S]:
    """Make `cls` a config section: a frozen, keyword-only record (shipyard.records), whose
    fields, defaults and metadata are what pydantic and the generated docs read."""
    return record(kw_only=True)(cls)


@config_section
class SecretRef(Section):
    """Where a secret lives. Exactly one of the fields is set; the value itself is never
    written in a config file. A `file` path is relative to the project root (`~` expands) and
    must lie inside the directories SecretsConfig allows."""

    env: str | None = field(default=None, metadata=about("an environment variable's name"))
    ssm: str | None = field(default=None, metadata=about("an SSM parameter's name (decrypted)"))
    secretsmanager: str | None = field(
        default=None, metadata=about("a Secrets Manager ARN or name")
    )
    file: str | None = field(
        default=None,
        metadata=about(
            "a file, relative to the project root; inside the directories [secrets] allows"
        ),
    )

    def __post_init__(self) -> None:
        set_fields = [k for k in ("env", "ssm", "secretsmanager", "file") if getattr(self, k)]
        if len(set_fields) != 1:
            raise ValueError(
                "a secret reference needs exactly one of env, ssm, secretsmanager, file"
            )

    def describe(self) -> str:
        for kind in ("env", "ssm", "secretsmanager", "file"):
            value = getattr(self, kind)
            if value:
                return f"{kind}:{value}"
        return "?"


@config_section
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

    file_roots: list[str] = field(
        default_factory=list,
        metadata=about(
            "directories outside the project that any file: reference may read, "
            "secrets delivered into containers included (e.g. /etc/myapp); a relative path "
            "is taken from the project root"
        ),
    )
    credential_file_roots: list[str] = field(
        default_factory=lambda: ["/var/lib/shipyard"],
        metadata=about(
            "directories that shipyard's own credentials (registry.password, notify "
            "tokens) may also be read from, never a secret delivered into a container; by default "
            "the machine state directory that scripts/bootstrap.sh writes the local registry's "
            "password to"
        ),
    )
