"""Lambda, read only: do the functions CodeDeploy hooks name exist?

Admin-time: inv doctor and inv setup-cicd call this with an administrator's credentials, never
the CI role, so lambda:GetFunction is deliberately not in deploy/iam/github-actions-policy.json.
"""

from __future__ import annotations

from collections.abc import Iterable

from shipyard.adapters.aws import AwsClients, error_code, translate_errors


def missing_functions(aws: AwsClients, names: Iterable[str]) -> list[str]:
    """The functions (names or ARNs) Lambda does not know, in the order given."""
    import botocore.exceptions as bx

    client = aws.client("lambda")
    missing: list[str] = []
    for name in dict.fromkeys(names):
        with translate_errors(f"lambda:GetFunction {name}"):
            try:
                client.get_function(FunctionName=name)
            except bx.ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
                missing.append(name)
    return missing
