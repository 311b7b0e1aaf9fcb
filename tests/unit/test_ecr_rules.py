"""The pure ECR rules: cleanup selection, image references, lifecycle policy, tag mutability,
scan findings and allowlist, AWS error lines."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from hypothesis import given
from hypothesis import strategies as st

from shipyard.adapters.aws import client_error, translate_errors
from shipyard.adapters.ecr import ImageDetail
from shipyard.config.aws import AllowlistEntry, LifecyclePolicyConfig
from shipyard.config.model import EcrRegistryConfig, TagsConfig
from shipyard.errors import AwsError, ConfigError
from shipyard.operations.ecr_cleanup import release_of, select
from shipyard.operations.ecr_repository import policy_diff, render_lifecycle_policy
from shipyard.operations.scan import ScanResult, apply_allowlist, parse_findings
from shipyard.tag_mutability import check_tag_mutability, tag_mutability_conflicts
from tests.support.hypothesis_policy import PROPERTY

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


def image(n: int, *tags: str, days_old: float = 30) -> ImageDetail:
    return ImageDetail(f"sha256:{n:064x}", tuple(tags), NOW - dt.timedelta(days=days_old))


images_strategy = st.lists(
    st.tuples(
        st.one_of(
            st.just(()),
            st.tuples(st.builds("{}.{}.{}".format, *(st.integers(0, 5),) * 3)),
            st.just(("latest",)),
            st.just(("1.0.0-develop.1",)),
            st.just(("sha-abc1234",)),
        ),
        st.floats(0, 60),
    ),
    max_size=60,
).map(lambda items: [image(i, *tags, days_old=age) for i, (tags, age) in enumerate(items)])


@PROPERTY
@given(images_strategy, st.data(), st.integers(1, 5), st.integers(0, 30))
def test_a_deployed_image_is_never_selected_for_deletion(
    images: list[ImageDetail], data: st.DataObject, keep: int, days: int
) -> None:
    deployed = data.draw(st.sets(st.sampled_from([i.digest for i in images]))) if images else set()
    decisions = select(
        images, keep_releases=keep, untagged_days=days, deployed_digests=deployed, now=NOW
    )
    assert len(decisions) == len(images)
    for decision in decisions:
        if decision.image.digest in deployed:
            assert decision.keep
            assert decision.reason == "deployed"
        if "latest" in decision.image.tags:
            assert decision.keep
        if not decision.image.tags and NOW - decision.image.pushed_at < dt.timedelta(days=days):
            assert decision.keep


@PROPERTY
@given(images_strategy, st.integers(1, 5))
def test_exactly_the_newest_releases_are_kept_among_releases(
    images: list[ImageDetail], keep: int
) -> None:
    decisions = select(images, keep_releases=keep, untagged_days=0, keep_tags=(), now=NOW)
    versions = sorted({v for i in images for t in i.tags if (v := release_of(t))}, reverse=True)
    newest = {str(v) for v in versions[:keep]}
    for decision in decisions:
        if release_of(next(iter(decision.image.tags), "")):
            assert decision.keep == (decision.image.tags[0] in newest)


def test_deployed_by_tag_keeps_the_image() -> None:
    decisions = select(
        [image(1, "0.0.1"), image(2, "0.0.2")],
        keep_releases=1,
        untagged_days=0,
        deployed_tags={"0.0.1"},
        now=NOW,
    )
    assert [d.keep for d in decisions] == [True, True]


def test_platform_images_of_a_kept_index_are_protected() -> None:
    decisions = select(
        [image(1)],
        keep_releases=1,
        untagged_days=0,
        protected={f"sha256:{1:064x}": "platform image of kept index"},
        now=NOW,
    )
    assert decisions[0].keep


def test_only_plain_releases_count_as_releases() -> None:
    assert str(release_of("1.2.3")) == "1.2.3"
    assert release_of("1.2.3-develop.4") is None
    assert release_of("latest") is None
    assert release_of("v1.2.3") is None


def test_lifecycle_policy_is_rendered_from_config_and_diffed() -> None:
    policy = render_lifecycle_policy(LifecyclePolicyConfig(keep_releases=7, untagged_days=2))
    untagged, releases = policy["rules"]
    assert untagged["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 2,
    }
    assert releases["selection"]["countNumber"] == 7
    assert policy_diff(policy, policy) == []
    changed = render_lifecycle_policy(LifecyclePolicyConfig(keep_releases=8, untagged_days=2))
    diff = policy_diff(policy, changed)
    assert any(line.startswith("-") and "7" in line for line in diff)
    assert any(line.startswith("+") and "8" in line for line in diff)


def test_immutable_repository_conflicts_with_moving_tags() -> None:
    tags = TagsConfig(templates=["{version}", "sha-{git_sha}", "{date}"])
    immutable = EcrRegistryConfig(tag_mutability="IMMUTABLE")
    assert tag_mutability_conflicts(immutable, tags) == ["{date}"]
    assert tag_mutability_conflicts(immutable, tags, latest=True) == ["{date}", "latest"]
    assert tag_mutability_conflicts(EcrRegistryConfig(), tags, latest=True) == []
    excluded = EcrRegistryConfig(
        tag_mutability="IMMUTABLE_WITH_EXCLUSION", mutable_tags=["latest", "20*"]
    )
    assert tag_mutability_conflicts(excluded, tags, latest=True) == []
    only_versions = TagsConfig(templates=["{version}", "sha-{git_sha}"])
    check_tag_mutability(immutable, only_versions)  # nothing moves: fine
    with pytest.raises(ConfigError, match="latest") as err:
        check_tag_mutability(immutable, only_versions, latest=True)
    assert 'mutable_tags = ["latest"]' in (err.value.hint or "")


def test_findings_from_basic_and_enhanced_scans() -> None:
    response = {
        "imageScanFindings": {
            "findings": [
                {"name": "CVE-1", "severity": "LOW"},
                {"name": "CVE-2", "severity": "CRITICAL"},
            ],
            "enhancedFindings": [
                {
                    "severity": "UNTRIAGED",
                    "packageVulnerabilityDetails": {
                        "vulnerabilityId": "CVE-3",
                        "vulnerablePackages": [{"name": "zlib", "version": "1"}],
                    },
                }
            ],
        }
    }
    findings = parse_findings(response)
    assert [(f.id, f.severity) for f in findings] == [
        ("CVE-2", "CRITICAL"),
        ("CVE-1", "LOW"),
        ("CVE-3", "UNDEFINED"),
    ]


def test_allowlist_excuses_until_expiry() -> None:
    today = dt.date(2025, 6, 1)
    findings = parse_findings(
        {
            "imageScanFindings": {
                "findings": [
                    {"name": "CVE-1", "severity": "HIGH"},
                    {"name": "CVE-2", "severity": "HIGH"},
                ]
            }
        }
    )
    allow = [
        AllowlistEntry(id="CVE-1", reason="r", expires=dt.date(2025, 6, 1)),
        AllowlistEntry(id="CVE-2", reason="r", expires=dt.date(2025, 5, 31)),
    ]
    marked, expired = apply_allowlist(findings, allow, today)
    result = ScanResult("img", "COMPLETE", "HIGH", tuple(marked), tuple(expired))
    assert [f.id for f in result.blocking] == ["CVE-2"]  # expired entry excuses nothing
    assert not result.passed
    marked, expired = apply_allowlist(findings, allow[:1], today)
    assert [f.id for f in ScanResult("img", "COMPLETE", "CRITICAL", tuple(marked)).blocking] == []


def _client_error(code: str, message: str, operation: str = "DescribeImages") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_access_denied_names_the_refused_action() -> None:
    err = client_error(
        "ecr:DescribeImages gamepulse", _client_error("AccessDeniedException", "denied")
    )
    assert "may not perform ecr:DescribeImages" in err.message
    err = client_error(
        "ecs:DescribeServices c",
        _client_error(
            "AccessDeniedException",
            "User: arn:aws:iam::1:user/x is not authorized to perform: "
            "ecs:DescribeServices on resource",
        ),
    )
    assert "perform ecs:DescribeServices" in err.message
    assert err.hint


def test_expired_token_says_re_authenticate() -> None:
    err = client_error(
        "ecr:GetAuthorizationToken", _client_error("ExpiredTokenException", "expired")
    )
    assert "expired" in err.message
    assert "re-authenticate" in (err.hint or "")


def test_missing_credentials_say_how_to_provide_them() -> None:
    with pytest.raises(AwsError, match="no AWS credentials") as err, translate_errors("sts:X"):
        raise NoCredentialsError()
    assert "AWS_PROFILE" in (err.value.hint or "")


def test_no_aws_client_is_created_at_import() -> None:
    import subprocess
    import sys

    code = (
        "import sys, shipyard.adapters.aws, shipyard.adapters.ecr, shipyard.operations.ecr_cleanup;"
        "print('botocore.client' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
