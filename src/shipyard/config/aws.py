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
    region: str = Field(
        default="ap-northeast-2", description="the AWS region; AWS_REGION overrides it"
    )
    account_id: str | None = Field(
        default=None,
        pattern=r"^\d{12}$",
        description="the AWS account; AWS_ACCOUNT_ID overrides it; unset: asked of STS",
    )
    profile: str | None = Field(
        default=None,
        description="the named profile to use; unset: the usual chain (AWS_PROFILE, keys in "
        "the environment, GitHub OIDC web identity)",
    )
    role_arn: str | None = Field(
        default=None,
        description="a role assumed on top of the profile or environment credentials "
        "(cross-account deploys)",
    )
    role_session_name: str = Field(
        default="shipyard", description="the session name when role_arn is assumed"
    )
    endpoint_url: str | None = Field(
        default=None,
        description="another AWS endpoint (moto, LocalStack); normally set through "
        "AWS_ENDPOINT_URL instead",
    )


class LifecyclePolicyConfig(Section):
    """The repository's lifecycle policy: a backstop that AWS runs by itself. It cannot know
    what is deployed, so keep_releases should be generous; `inv cleanup` is the safe pruner."""

    enabled: bool = Field(
        default=True, description="inv ecr-repo writes the lifecycle policy to the repository"
    )
    keep_releases: int = Field(
        default=30,
        ge=1,
        description="the policy keeps this many newest version-tagged images (keep it "
        "generous: AWS cannot see what is deployed)",
    )
    untagged_days: int = Field(
        default=14, ge=1, description="the policy expires untagged images older than this"
    )


class AllowlistEntry(Section):
    id: str = Field(min_length=1, description="CVE-2024-1234, or the finding's name")
    reason: str = Field(min_length=1, description="why the finding is accepted")
    expires: dt.date = Field(
        strict=False,
        description='a TOML date or "YYYY-MM-DD"; past it the gate fails, whether or not the '
        "finding is still there, until the entry is reviewed again",
    )


class ScanConfig(Section):
    fail_on: Severity = Field(
        default="HIGH",
        description="the gate fails on a finding of this severity or worse that the allowlist "
        "does not excuse",
    )
    timeout_seconds: float = Field(
        default=600, gt=0, description="how long inv scan waits for the scan (then exit 3)"
    )
    poll_seconds: float = Field(default=5, gt=0, description="how often the scan is polled")
    allowlist: list[AllowlistEntry] = Field(
        default_factory=list,
        description="accepted findings, each with a reason and an expiry date",
    )
    # ECR cannot scan some images (FROM scratch, unknown package managers): fail the gate,
    # or warn and pass once you have checked such images another way.
    unsupported: Literal["fail", "warn"] = Field(
        default="fail",
        description="an image ECR cannot scan (UNSUPPORTED_IMAGE: FROM scratch, unknown "
        "package managers) fails the gate, or warns once you have checked it another way",
    )


class CleanupConfig(Section):
    keep_releases: int = Field(
        default=10,
        ge=1,
        description="the newest semantic-version releases kept (prereleases are not releases); "
        "images deployed in any environment are always kept",
    )
    untagged_days: int = Field(
        default=7,
        ge=0,
        description="images that are no release (untagged, prerelease, sha-/date-only) are "
        "kept while younger than this: a fresh push may be about to be deployed",
    )
    keep_tags: list[str] = Field(
        default_factory=lambda: ["latest"],
        description="images with one of these tags are never deleted, whatever their age",
    )
