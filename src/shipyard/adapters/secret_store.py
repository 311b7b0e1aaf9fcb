"""Resolve secret references (env var, file, SSM parameter, Secrets Manager) into Secrets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from shipyard.adapters.aws import AwsClients, translate_errors
from shipyard.config.base import SecretRef
from shipyard.errors import UsageError
from shipyard.secrets import Secret


def resolve(
    ref: SecretRef,
    *,
    root: Path,
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
        path = Path(ref.file).expanduser()
        path = path if path.is_absolute() else root / path
        try:
            return Secret(path.read_text().strip(), where)
        except OSError:
            raise UsageError(
                f"secret {where}: cannot read {path}",
                hint="create it (scripts/bootstrap.sh does for the local registry)",
            ) from None
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
