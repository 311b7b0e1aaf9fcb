"""AWS-side configuration: credentials/region, ECR repository settings, scanning, cleanup."""

from __future__ import annotations

import datetime as dt
from dataclasses import field
from typing import Literal

from shipyard.config.base import Section, about, config_section

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


@config_section
class AwsConfig(Section):
    region: str = field(
        default="ap-northeast-2", metadata=about("the AWS region; AWS_REGION overrides it")
    )
    account_id: str | None = field(
        default=None,
        metadata=about(
            "the AWS account; AWS_ACCOUNT_ID overrides it; unset: asked of STS", pattern=r"^\d{12}$"
        ),
    )
    profile: str | None = field(
        default=None,
        metadata=about(
            "the named profile to use; unset: the usual chain (AWS_PROFILE, keys in "
            "the environment, GitHub OIDC web identity)"
        ),
    )
    role_arn: str | None = field(
        default=None,
        metadata=about(
            "a role assumed on top of the profile or environment credentials "
            "(cross-account deploys)"
        ),
    )
    role_session_name: str = field(
        default="shipyard", metadata=about("the session name when role_arn is assumed")
    )
    endpoint_url: str | None = field(
        default=None,
        metadata=about(
            "another AWS endpoint (moto, LocalStack); normally set through AWS_ENDPOINT_URL instead"
        ),
    )


@config_section
class LifecyclePolicyConfig(Section):
    """The repository's lifecycle policy: a backstop that AWS runs by itself. It cannot know
    what is deployed, so keep_releases should be generous; `inv cleanup` is the safe pruner."""

    enabled: bool = field(
        default=True, metadata=about("inv ecr-repo writes the lifecycle policy to the repository")
    )
    keep_releases: int = field(
        default=30,
        metadata=about(
            "the policy keeps this many newest version-tagged images (keep it "
            "generous: AWS cannot see what is deployed)",
            ge=1,
        ),
    )
    untagged_days: int = field(
        default=14, metadata=about("the policy expires untagged images older than this", ge=1)
    )


@config_section
class AllowlistEntry(Section):
    id: str = field(metadata=about("CVE-2024-1234, or the finding's name", min_length=1))
    reason: str = field(metadata=about("why the finding is accepted", min_length=1))
    expires: dt.date = field(
        metadata=about(
            'a TOML date or "YYYY-MM-DD"; past it the gate fails, whether or not the '
            "finding is still there, until the entry is reviewed again",
            strict=False,
        )
    )


@config_section
class ScanConfig(Section):
    fail_on: Severity = field(
        default="HIGH",
        metadata=about(
            "the gate fails on a finding of this severity or worse that the allowlist "
            "does not excuse"
        ),
    )
    timeout_seconds: float = field(
        default=600, metadata=about("how long inv scan waits for the scan (then exit 3)", gt=0)
    )
    poll_seconds: float = field(default=5, metadata=about("how often the scan is polled", gt=0))
    allowlist: list[AllowlistEntry] = field(
        default_factory=list,
        metadata=about("accepted findings, each with a reason and an expiry date"),
    )
    # ECR cannot scan some images (FROM scratch, unknown package managers): fail the gate,
    # or warn and pass once you have checked such images another way.
    unsupported: Literal["fail", "warn"] = field(
        default="fail",
        metadata=about(
            "an image ECR cannot scan (UNSUPPORTED_IMAGE: FROM scratch, unknown "
            "package managers) fails the gate, or warns once you have checked it another way"
        ),
    )


@config_section
class CleanupConfig(Section):
    keep_releases: int = field(
        default=10,
        metadata=about(
            "the newest semantic-version releases kept (prereleases are not releases); "
            "images deployed in any environment are always kept",
            ge=1,
        ),
    )
    untagged_days: int = field(
        default=7,
        metadata=about(
            "images that are no release (untagged, prerelease, sha-/date-only) are "
            "kept while younger than this: a fresh push may be about to be deployed",
            ge=0,
        ),
    )
    keep_tags: list[str] = field(
        default_factory=lambda: ["latest"],
        metadata=about("images with one of these tags are never deleted, whatever their age"),
    )
