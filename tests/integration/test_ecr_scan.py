"""The scan gate: findings set through moto's static findings API (moto server), and the
statuses moto cannot produce (IN_PROGRESS then COMPLETE, ACTIVE, LimitExceeded, timeout) fed by
botocore's Stubber, which checks every call against ECR's service model."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from shipyard.errors import ScanFailed, StateUnknown
from shipyard.operations import scan
from shipyard.operations.scan import ScanOptions
from tests.conftest import MotoServer, Project
from tests.integration.ecr_helpers import REGION, Captured, ecr_context, put
from tests.support.manual_clock import ManualClock

FUTURE = dt.date.today() + dt.timedelta(days=30)
PAST = dt.date.today() - dt.timedelta(days=1)


def finding(cve: str, severity: str, package: str = "openssl") -> dict[str, Any]:
    return {
        "name": cve,
        "uri": f"https://cve.example/{cve}",
        "severity": severity,
        "attributes": [
            {"key": "package_name", "value": package},
            {"key": "package_version", "value": "1.0"},
        ],
    }


def inject(aws: MotoServer, repository: str, status: str, findings: list[dict[str, Any]]) -> None:
    """moto's documented way to set scan results: POST /moto-api/static/ecr/scan-finding-results."""
    result = {
        "registryId": "123456789012",
        "repositoryName": repository,
        "imageId": {"imageTag": "1.0.0"},
        "imageScanStatus": {"status": status, "description": f"status {status}"},
        "imageScanFindings": {
            "findings": findings,
            "findingSeverityCounts": {},
        },
    }
    body = json.dumps({"results": [result], "region": REGION}).encode()
    req = urllib.request.Request(
        f"{aws.endpoint}/moto-api/static/ecr/scan-finding-results",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=10).read()


def allowlist(project: Project, *entries: tuple[str, dt.date]) -> None:
    lines = ["[scan]", 'fail_on = "HIGH"', "allowlist = ["]
    for cve, expires in entries:
        lines.append(f'  {{ id = "{cve}", reason = "no fix upstream yet", expires = {expires} }},')
    lines.append("]")
    project.append_config("staging", "\n".join(lines))


@pytest.fixture
def pushed(project: Project, aws: MotoServer) -> str:
    ctx = ecr_context(project.path)
    ecr = ctx.aws.client("ecr")
    ecr.create_repository(repositoryName=project.repository)
    return put(ecr, project.repository, 1, "1.0.0")


def test_findings_at_or_above_the_gate_fail(project: Project, aws: MotoServer, pushed: str) -> None:
    inject(
        aws,
        project.repository,
        "COMPLETE",
        [
            finding("CVE-2024-0001", "CRITICAL"),
            finding("CVE-2024-0002", "HIGH"),
            finding("CVE-2024-0003", "LOW"),
        ],
    )
    captured = Captured()
    ctx = ecr_context(project.path, captured=captured)
    result = scan.run(ctx, ScanOptions(version="1.0.0"))
    assert result.started_scan  # no scan-on-push result in moto: one was started
    assert result.status == "COMPLETE"
    assert pushed in result.image
    assert [f.id for f in result.blocking] == ["CVE-2024-0001", "CVE-2024-0002"]
    assert result.counts()["LOW"] == 1
    scan.show(result, ctx.console)
    text = captured.text()
    assert "CRITICAL" in text
    assert "BLOCKING" in text
    assert "CVE-2024-0002" in text
    with pytest.raises(ScanFailed, match="2 finding"):
        scan.gate(result)


def test_allowlisted_findings_pass_until_the_entry_expires(
    project: Project, aws: MotoServer, pushed: str
) -> None:
    inject(
        aws,
        project.repository,
        "COMPLETE",
        [finding("CVE-2024-0001", "CRITICAL"), finding("CVE-2024-0002", "HIGH")],
    )
    allowlist(project, ("CVE-2024-0001", FUTURE), ("cve-2024-0002", FUTURE))
    result = scan.run(ecr_context(project.path), ScanOptions(version="1.0.0"))
    assert result.passed
    assert result.blocking == ()
    scan.gate(result)


def test_an_expired_allowlist_entry_fails_loudly(
    project: Project, aws: MotoServer, pushed: str
) -> None:
    inject(aws, project.repository, "COMPLETE", [finding("CVE-2024-0001", "CRITICAL")])
    allowlist(project, ("CVE-2024-0001", PAST))
    captured = Captured()
    ctx = ecr_context(project.path, captured=captured)
    result = scan.run(ctx, ScanOptions(version="1.0.0"))
    scan.show(result, ctx.console)
    assert "expired on" in captured.text()
    with pytest.raises(ScanFailed, match="expired: CVE-2024-0001"):
        scan.gate(result)


def test_the_scan_on_push_result_is_reused(project: Project, aws: MotoServer, pushed: str) -> None:
    inject(aws, project.repository, "COMPLETE", [finding("CVE-2024-0003", "LOW")])
    ctx = ecr_context(project.path)
    # what scan-on-push does: a scan already ran; a second start today would be refused
    ctx.aws.client("ecr").start_image_scan(
        repositoryName=project.repository, imageId={"imageTag": "1.0.0"}
    )
    result = scan.run(ctx, ScanOptions(version="1.0.0"))
    assert not result.started_scan
    assert result.passed


@pytest.mark.parametrize("status", ["FAILED", "UNSUPPORTED_IMAGE"])
def test_scans_that_cannot_finish_fail(
    project: Project, aws: MotoServer, pushed: str, status: str
) -> None:
    inject(aws, project.repository, status, [])
    with pytest.raises(ScanFailed, match=status if status == "FAILED" else "cannot scan"):
        scan.run(ecr_context(project.path), ScanOptions(version="1.0.0"))


def test_unsupported_images_may_be_accepted_with_a_warning(
    project: Project, aws: MotoServer, pushed: str
) -> None:
    project.append_config("staging", '[scan]\nunsupported = "warn"')
    inject(aws, project.repository, "UNSUPPORTED_IMAGE", [])
    result = scan.run(ecr_context(project.path), ScanOptions(version="1.0.0"))
    assert result.passed
    assert result.status == "UNSUPPORTED_IMAGE"
    assert result.notes


def test_an_image_that_was_never_pushed_is_named(
    project: Project, aws: MotoServer, pushed: str
) -> None:
    from shipyard.errors import RegistryError

    with pytest.raises(RegistryError, match=r":2\.0\.0 is not in ECR"):
        scan.run(ecr_context(project.path), ScanOptions(version="2.0.0"))


def test_dry_run_calls_nothing(project: Project, aws: MotoServer) -> None:
    allowlist(project, ("CVE-1", PAST))
    captured = Captured()
    ctx = ecr_context(project.path, captured=captured)
    result = scan.run(ctx, ScanOptions(version="1.0.0", dry_run=True))
    scan.show(result, ctx.console)
    text = captured.text()
    assert "StartImageScan" in text
    assert "expired" in text
    assert "nothing was changed" in text


# -- Stubber: statuses moto cannot produce ----------------------------------------------------

DIGEST = "sha256:" + "d" * 64


@pytest.fixture
def stubbed(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber]]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    ctx = ecr_context(project.path, AWS_ACCOUNT_ID="123456789012")
    client = ctx.registry.client  # type: ignore[attr-defined]
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_images",
            {
                "imageDetails": [
                    {
                        "imageDigest": DIGEST,
                        "imageTags": ["1.0.0"],
                        "imagePushedAt": dt.datetime.now(dt.UTC),
                    }
                ]
            },
            {
                "repositoryName": project.repository,
                "imageIds": [{"imageTag": "1.0.0"}],
                "registryId": "123456789012",
            },
        )
        yield ctx, stubber
        stubber.assert_no_pending_responses()


def _findings(status: str, **body: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "imageScanStatus": {"status": status},
        "imageId": {"imageDigest": DIGEST},
    }
    if body:
        response["imageScanFindings"] = body
    return response


def test_polls_in_progress_until_complete(stubbed: tuple[Any, Stubber]) -> None:
    ctx, stub = stubbed
    stub.add_client_error("describe_image_scan_findings", "ScanNotFoundException", "no scan")
    stub.add_response(
        "start_image_scan",
        {"imageScanStatus": {"status": "IN_PROGRESS"}},
        {
            "repositoryName": ctx.config.image.repository,
            "imageId": {"imageDigest": DIGEST},
            "registryId": "123456789012",
        },
    )
    stub.add_response("describe_image_scan_findings", _findings("IN_PROGRESS"))
    stub.add_response("describe_image_scan_findings", _findings("IN_PROGRESS"))
    stub.add_response(
        "describe_image_scan_findings",
        _findings("COMPLETE", findings=[finding("CVE-2024-9", "MEDIUM")]),
    )
    fake = ManualClock(0.0)
    result = scan.run(ctx, ScanOptions(version="1.0.0"), sleep=fake.sleep, clock=fake.clock)
    assert result.status == "COMPLETE"
    assert result.started_scan
    assert result.passed
    assert fake.pauses == [5, 5]  # scan.poll_seconds, by our own loop


def test_enhanced_scanning_active_findings_are_gated(stubbed: tuple[Any, Stubber]) -> None:
    ctx, stub = stubbed
    stub.add_response(
        "describe_image_scan_findings",
        _findings(
            "ACTIVE",
            enhancedFindings=[
                {
                    "severity": "CRITICAL",
                    "title": "CVE-2024-7 - glibc",
                    "packageVulnerabilityDetails": {
                        "vulnerabilityId": "CVE-2024-7",
                        "sourceUrl": "https://x",
                        "vulnerablePackages": [{"name": "glibc", "version": "2.36"}],
                    },
                }
            ],
        ),
    )
    result = scan.run(ctx, ScanOptions(version="1.0.0"))
    assert result.status == "ACTIVE"
    assert not result.started_scan
    assert [(f.id, f.package) for f in result.blocking] == [("CVE-2024-7", "glibc")]


def test_limit_exceeded_on_start_is_explained(stubbed: tuple[Any, Stubber]) -> None:
    ctx, stub = stubbed
    stub.add_client_error("describe_image_scan_findings", "ScanNotFoundException", "no scan")
    stub.add_client_error("start_image_scan", "LimitExceededException", "one scan per day")
    with pytest.raises(ScanFailed, match="LimitExceeded") as err:
        scan.run(ctx, ScanOptions(version="1.0.0"))
    assert "24 hours" in (err.value.hint or "")


def test_a_scan_that_never_finishes_times_out_with_exit_3(stubbed: tuple[Any, Stubber]) -> None:
    ctx, stub = stubbed
    for _ in range(3):
        stub.add_response("describe_image_scan_findings", _findings("IN_PROGRESS"))
    fake = ManualClock(0.0)
    with pytest.raises(StateUnknown, match="still IN_PROGRESS after 10s") as err:
        scan.run(
            ctx,
            ScanOptions(version="1.0.0", timeout_seconds=10),
            sleep=fake.sleep,
            clock=fake.clock,
        )
    assert err.value.exit_code == 3


def test_access_denied_names_the_refused_action(stubbed: tuple[Any, Stubber]) -> None:
    from shipyard.errors import AwsError

    ctx, stub = stubbed
    stub.add_client_error(
        "describe_image_scan_findings",
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/ci is not authorized to perform: "
        "ecr:DescribeImageScanFindings on resource: repo",
    )
    with pytest.raises(AwsError, match="may not perform ecr:DescribeImageScanFindings"):
        scan.run(ctx, ScanOptions(version="1.0.0"))
