"""Resolve secret references (env var, file, SSM parameter, Secrets Manager) into Secrets.

A file reference is read only from inside `roots` (see SecretsConfig for which roots a use
gets), judged on the real path after every symlink: `..`, absolute paths and links out of the
allowed directories are refused with the reference and the roots, before anything is read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from shipyard.adapters.aws import AwsClients, translate_errors
from shipyard.config.base import SecretRef
from shipyard.errors import UsageError
from shipyard.secrets import Secret


def resolve(
    ref: SecretRef,
    *,
    root: Path,
    roots: Sequence[Path],
    aws: AwsClients | None = None,
    environ: Mapping[str, str] | None = None,
) -> Secret:
    environ = os.environ if environ is None else environ
    where = ref.describe()
    if ref.env:
        value = environ.get(ref.env)
        if not value:
            raise UsageError(
                f"secret {where}: environment variable {ref.env} is not set",
                hint=f"export {ref.env} before running shipyard or change the config's reference",
            )
        return Secret(value, where)
    if ref.file:
        return Secret(_read(contained(ref, root=root, roots=roots), where).strip(), where)
    if aws is None:
        raise UsageError(
            f"secret {where} needs AWS access, which this environment does not configure"
        )
    if ref.ssm:
        with translate_errors(f"ssm:GetParameter {ref.ssm}"):
            resp = aws.client("ssm").get_parameter(Name=ref.ssm, WithDecryption=True)
        return Secret(str(resp["Parameter"]["Value"]), where)
    if ref.secretsmanager:
        with translate_errors("secretsmanager:GetSecretValue"):
            resp = aws.client("secretsmanager").get_secret_value(SecretId=ref.secretsmanager)
        return Secret(str(resp.get("SecretString") or ""), where)
    raise UsageError(f"secret reference {where} names no source")


def contained(ref: SecretRef, *, root: Path, roots: Sequence[Path]) -> Path:
    """The real path of the file `ref` names (relative to `root`), every symlink resolved;
    UsageError (exit 2) unless it lies inside one of `roots` (themselves resolved)."""
    raw = Path(str(ref.file)).expanduser()
    real = Path(os.path.realpath(raw if raw.is_absolute() else root / raw))
    allowed = list(dict.fromkeys(Path(os.path.realpath(r)) for r in roots))
    if any(real.is_relative_to(r) for r in allowed):
        return real
    raise UsageError(
        f"secret {ref.describe()} resolves to {real}, outside the directories secrets are "
        f"read from: {', '.join(map(str, allowed))}",
        hint="move the file into one of them, or add its directory to secrets.file_roots "
        "in the environment's config file",
    )


def _read(real: Path, where: str) -> str:
    # O_NOFOLLOW: a link put in place since `contained` looked is not followed; O_NONBLOCK:
    # a FIFO named by mistake does not hang the run
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(real, flags)
    except OSError:
        raise UsageError(
            f"secret {where}: cannot read {real}",
            hint="create it (scripts/bootstrap.sh does for the local registry)",
        ) from None
    with os.fdopen(fd, encoding="utf-8") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"secret {where}: {real} is not a regular file")
        try:
            return fh.read()
        except UnicodeDecodeError:
            raise UsageError(
                f"secret {where}: {real} is not UTF-8 text",
                hint="store a binary secret base64-encoded",
            ) from None
