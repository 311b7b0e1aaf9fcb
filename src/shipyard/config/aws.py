"""AWS-side configuration: credentials/region, ECR repository settings, scanning, cleanup."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from shipyard.config.base import Section

Severity = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"]
# Most severe first; a gate at HIGH fails on CRITICAL and HIGH.
SEVERITY_ORDER: tuple[str, ...] = (
    "CRITICAL",
    "HIGH",
    "MEDIUM",
    "LOW",
    "INFORMATIONAL",
    "UNDEFINED",
)


class AwsConfig(Section):
    region: str = "ap-northeast-2"
    account_id: str | None = Field(default=None, pattern=r"^\d{12}$")
    profile: str | None = None
    # assumed on top of the profile/environment credentials (cross-account deploys)
    role_arn: str | None = None
    role_session_name: str = "shipyard"
    # moto, LocalStack: normally set through AWS_ENDPOINT_URL instead
    endpoint_url: str | None = None


class LifecyclePolicyConfig(Section):
    """The repository's lifecycle policy: a backstop that AWS runs by itself. It cannot know
    what is deployed, so keep_releases should be generous; `inv cleanup` is the safe pruner."""

    enabled: bool = True
    keep_releases: int = Field(default=30, ge=1)
    untagged_days: int = Field(default=14, ge=1)


class AllowlistEntry(Section):
    id: str = Field(min_length=1)  # CVE-2024-1234, or the finding's name
    reason: str = Field(min_length=1)
    expires: dt.date = Field(strict=False)  # a TOML date, or "YYYY-MM-DD"


class ScanConfig(Section):
    fail_on: Severity = "HIGH"
    timeout_seconds: float = Field(default=600, gt=0)
    poll_seconds: float = Field(default=5, gt=0)
    allowlist: list[AllowlistEntry] = Field(default_factory=list)
    # ECR cannot scan some images (FROM scratch, unknown package managers): fail the gate,
    # or warn and pass once you have checked such images another way.
    unsupported: Literal["fail", "warn"] = "fail"


class CleanupConfig(Section):
    keep_releases: int = Field(default=10, ge=1)
    untagged_days: int = Field(default=7, ge=0)
    # tags never deleted, whatever their age (besides releases and deployed images)
    keep_tags: list[str] = Field(default_factory=lambda: ["latest"])
