"""The one AWS client factory, and the translation of AWS errors into one clear line.

Clients are created on first use from config (never at import: moto and credential changes
would not be seen), with botocore's `standard` retry mode and AWS_ENDPOINT_URL honoured for
moto or LocalStack.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from shipyard.config.aws import AwsConfig
from shipyard.errors import AwsError, UsageError
from shipyard.secrets import redact

if TYPE_CHECKING:
    import boto3

T = TypeVar("T")

ACCESS_HINT = "grant it in deploy/iam/github-actions-policy.json or use a role that has it"


class AwsClients:
    """Creates and caches boto3 clients for one configuration."""

    def __init__(self, config: AwsConfig, *, region: str | None = None) -> None:
        self.config = config
        self.region = region or config.region
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}

    @property
    def endpoint_url(self) -> str | None:
        return os.environ.get("AWS_ENDPOINT_URL") or self.config.endpoint_url

    def session(self) -> boto3.session.Session:
        if self._session is None:
            import boto3

            with translate_errors("create AWS session"):
                base = boto3.session.Session(profile_name=self.config.profile, region_name=self.region)
                if self.config.role_arn:
                    base = self._assume_role(base, self.config.role_arn)
            self._session = base
        return self._session

    def _assume_role(self, base: boto3.session.Session, role_arn: str) -> boto3.session.Session:
        import boto3

        sts = base.client("sts", endpoint_url=self.endpoint_url, config=_botocore_config())
        with translate_errors("sts:AssumeRole"):
            creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="shipyard")["Credentials"]
        from shipyard.secrets import register

        register(creds["SecretAccessKey"])
        register(creds["SessionToken"])
        return boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=self.region,
        )

    def client(self, service: str) -> Any:
        if service not in self._clients:
            with translate_errors(f"create {service} client"):
                self._clients[service] = self.session().client(
                    service, endpoint_url=self.endpoint_url, config=_botocore_config()
                )
        return self._clients[service]

    def account_id(self) -> str:
        if self.config.account_id:
            return self.config.account_id
        with translate_errors("sts:GetCallerIdentity"):
            return str(self.client("sts").get_caller_identity()["Account"])


def _botocore_config() -> Any:
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="shipyard")


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn botocore exceptions into AwsError lines naming the action and the fix."""
    import botocore.exceptions as bx

    try:
        yield
    except bx.NoCredentialsError:
        raise AwsError(
            f"{action}: no AWS credentials found",
            hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "or run under GitHub OIDC (see README: set-up)",
        ) from None
    except bx.ProfileNotFound as exc:
        raise UsageError(f"{action}: {exc}", hint="check aws.profile or AWS_PROFILE") from None
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError) as exc:
        raise AwsError(f"{action}: cannot reach AWS ({exc})", hint="check the network or AWS_ENDPOINT_URL") from None
    except bx.ClientError as exc:
        raise client_error(action, exc) from None
    except bx.BotoCoreError as exc:
        raise AwsError(f"{action}: {redact(str(exc))}") from None


def client_error(action: str, exc: Any) -> AwsError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = redact(str(error.get("Message", "")))
    operation = getattr(exc, "operation_name", "") or action
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"):
        return AwsError(f"{action}: access denied for {operation}: {message}", hint=ACCESS_HINT)
    if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId",
                "UnrecognizedClientException"):
        return AwsError(
            f"{action}: the AWS credentials are expired or invalid ({code})",
            hint="re-authenticate (aws sso login, or refresh the session) and try again",
        )
    return AwsError(f"{action}: {code}: {message}")


def call(action: str, fn: Callable[[], T]) -> T:
    with translate_errors(action):
        return fn()
