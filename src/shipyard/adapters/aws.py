"""The one AWS client factory, and the translation of AWS errors into one clear line.

Clients are created on first use from config (never at import: moto and credential changes
would not be seen), with botocore's `standard` retry mode and AWS_ENDPOINT_URL honoured for
moto or LocalStack. Region, profile and an assumed role come from the `[aws]` section.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from shipyard.config.aws import AwsConfig
from shipyard.errors import AwsError, UsageError
from shipyard.secrets import redact, register

T = TypeVar("T")

ACCESS_HINT = "grant it in deploy/iam/github-actions-policy.json or use a role that has it"
CREDENTIALS_HINT = (
    "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "or run under GitHub OIDC with a role (see docs/cicd.md)"
)
REAUTH_HINT = "re-authenticate (aws sso login, or refresh the session or OIDC role) and try again"

ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedException",
        "AuthorizationError",
    }
)
EXPIRED_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "TokenRefreshRequired",
        "InvalidToken",
    }
)
_REFUSED_ACTION = re.compile(r"perform:? ([a-z0-9-]+:[A-Za-z0-9]+)")


class AwsClients:
    """Creates and caches AWS clients for one configuration (one session, one region)."""

    def __init__(
        self,
        config: AwsConfig,
        *,
        region: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.region = region or config.region
        self._environ = environ
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._account_id: str | None = config.account_id

    @property
    def endpoint_url(self) -> str | None:
        environ = os.environ if self._environ is None else self._environ
        return environ.get("AWS_ENDPOINT_URL") or self.config.endpoint_url

    def for_region(self, region: str) -> AwsClients:
        """Clients for another region, sharing nothing but the configuration."""
        if region == self.region:
            return self
        return AwsClients(self.config, region=region, environ=self._environ)

    def session(self) -> Any:
        """The botocore session the clients come from. botocore's own, not boto3's: boto3
        adds resources and S3 transfers, which shipyard never uses, and its import (s3transfer,
        multiprocessing) is a sixth of every AWS command's start-up."""
        if self._session is None:
            with translate_errors("create AWS session"):
                base = _botocore_session(profile=self.config.profile, region=self.region)
                if self.config.role_arn:
                    base = self._assume_role(base, self.config.role_arn)
            self._session = base
        return self._session

    def _assume_role(self, base: Any, role_arn: str) -> Any:
        sts = base.create_client(
            "sts", region_name=self.region, endpoint_url=self.endpoint_url, config=botocore_config()
        )
        with translate_errors(f"sts:AssumeRole {role_arn}"):
            creds = sts.assume_role(
                RoleArn=role_arn, RoleSessionName=self.config.role_session_name
            )["Credentials"]
        register(creds["SecretAccessKey"])
        register(creds["SessionToken"])
        session = _botocore_session(profile=None, region=self.region)
        session.set_credentials(
            creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
        )
        return session

    def client(self, service: str) -> Any:
        if service not in self._clients:
            with translate_errors(f"create {service} client"):
                self._clients[service] = self.session().create_client(
                    service,
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    config=botocore_config(),
                )
        return self._clients[service]

    def account_id(self) -> str:
        """The configured account, else the caller's account as STS reports it (cached)."""
        if self._account_id is None:
            with translate_errors("sts:GetCallerIdentity"):
                self._account_id = str(self.client("sts").get_caller_identity()["Account"])
        return self._account_id


_shared_loader: Any = None


def _botocore_session(*, profile: str | None, region: str | None) -> Any:
    """A fresh botocore session (its own credentials and config) that shares one data loader
    per process, so the JSON service models are parsed once, not once per Context and client
    (what boto3's default session gives tools that use it)."""
    import botocore.session

    global _shared_loader
    session = botocore.session.get_session()
    if profile is not None:
        session.set_config_variable("profile", profile)
    if region is not None:
        session.set_config_variable("region", region)
    if _shared_loader is None:
        _shared_loader = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _shared_loader)
    return session


def botocore_config() -> Any:
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="shipyard")


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn botocore exceptions into AwsError lines naming the action and the fix.

    `action` is the IAM action and what it acts on, e.g. "ecr:DescribeImages shop"."""
    import botocore.exceptions as bx

    try:
        yield
    except bx.NoCredentialsError:
        raise AwsError(f"{action}: no AWS credentials found", hint=CREDENTIALS_HINT) from None
    except bx.PartialCredentialsError as exc:
        raise AwsError(
            f"{action}: incomplete AWS credentials ({exc})", hint=CREDENTIALS_HINT
        ) from None
    except (bx.TokenRetrievalError, bx.SSOTokenLoadError, bx.UnauthorizedSSOTokenError):
        raise AwsError(f"{action}: the AWS login session has expired", hint=REAUTH_HINT) from None
    except bx.CredentialRetrievalError as exc:
        raise AwsError(
            f"{action}: cannot obtain AWS credentials ({redact(str(exc))})", hint=REAUTH_HINT
        ) from None
    except bx.ProfileNotFound as exc:
        raise UsageError(f"{action}: {exc}", hint="check aws.profile or AWS_PROFILE") from None
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError) as exc:
        raise AwsError(
            f"{action}: cannot reach AWS ({exc})", hint="check the network or AWS_ENDPOINT_URL"
        ) from None
    except bx.ClientError as exc:
        raise client_error(action, exc) from None
    except bx.ParamValidationError as exc:
        raise AwsError(f"{action}: invalid request: {redact(str(exc))}") from None
    except bx.BotoCoreError as exc:
        raise AwsError(f"{action}: {redact(str(exc))}") from None


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def refused_action(action: str, exc: Any) -> str:
    """The IAM action AWS refused: from its message when it says, else from our call."""
    message = str(exc.response.get("Error", {}).get("Message", ""))
    if match := _REFUSED_ACTION.search(message):
        return match.group(1)
    first = action.split()[0] if action else ""
    if ":" in first:
        return first
    return getattr(exc, "operation_name", "") or first


def client_error(action: str, exc: Any) -> AwsError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = redact(str(error.get("Message", "")))
    if code in ACCESS_DENIED_CODES:
        return AwsError(
            f"{action}: access denied: these credentials may not "
            f"perform {refused_action(action, exc)}",
            hint=ACCESS_HINT,
        )
    if code in EXPIRED_CODES:
        return AwsError(
            f"{action}: the AWS credentials are expired or invalid ({code})", hint=REAUTH_HINT
        )
    if code in ("ThrottlingException", "TooManyRequestsException", "Throttling"):
        return AwsError(
            f"{action}: AWS kept throttling the request ({code}) after retries",
            hint="try again later or lower the request rate",
        )
    return AwsError(f"{action}: {code}: {message}" if message else f"{action}: {code}")


def call(action: str, fn: Callable[[], T]) -> T:
    with translate_errors(action):
        return fn()
