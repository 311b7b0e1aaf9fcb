"""AWS-side configuration: credentials/region, ECR repository settings, scanning, cleanup."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from shipyard.config.base import Section

Severity = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"]


class AwsConfig(Section):
    region: str = "ap-northeast-2"
    account_id: str | None = Field(default=None, pattern=r"^\d{12}$")
    profile: str | None = None
    role_arn: str | None = None
    # moto, LocalStack: normally set through AWS_ENDPOINT_URL instead
    endpoint_url: str | None = None


class LifecyclePolicyConfig(Section):
    keep_releases: int = Field(default=30, ge=1)
    untagged_days: int = Field(default=14, ge=1)


class AllowlistEntry(Section):
    id: str
    reason: str = Field(min_length=1)
    expires: dt.date


class ScanConfig(Section):
    fail_on: Severity = "HIGH"
    timeout_seconds: float = Field(default=600, gt=0)
    poll_seconds: float = Field(default=5, gt=0)
    allowlist: list[AllowlistEntry] = Field(default_factory=list)


class CleanupConfig(Section):
    keep_releases: int = Field(default=10, ge=1)
    untagged_days: int = Field(default=7, ge=0)
