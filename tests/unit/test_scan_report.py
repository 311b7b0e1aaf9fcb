"""What the scan gate tells the person deciding (operations/scan.py show and gate): the
severity table against fail_on, every finding at or above the gate with its verdict (blocking,
allowlisted until a date, blocking because the allowlist entry expired), the expired entries
named, and the one-line verdict; then the gate's error, naming the worst finding. Exact text:
a wrong count or verdict here is a wrong decision made by a person."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from shipyard.config.aws import AllowlistEntry
from shipyard.console import Console
from shipyard.errors import ScanFailed
from shipyard.operations import scan
from shipyard.operations.scan import Finding, LintFinding, ScanResult

FINE = AllowlistEntry(id="CVE-2", reason="not reachable", expires=dt.date(2099, 1, 1))
LAPSED = AllowlistEntry(id="CVE-3", reason="was fixed upstream", expires=dt.date(2020, 1, 1))
FINDINGS = (
    Finding("CVE-1", "CRITICAL", "openssl", "3.0.1"),
    Finding("CVE-2", "HIGH", "zlib", "1.2", allowed=FINE),
    Finding("CVE-3", "HIGH", "curl", "8.0", allowed=LAPSED),
    Finding("CVE-4", "MEDIUM", "bash", "5.1"),
    Finding("CVE-5", "LOW", "tar", "1.3", allowed=FINE),
)
IMAGE = "srv/repo:1.0.0@sha256:abc"


def shown(result: ScanResult) -> str:
    out = io.StringIO()
    scan.show(result, Console(out, out))
    return out.getvalue()


def test_a_failing_scan_is_reported_finding_by_finding() -> None:
    result = ScanResult(
        IMAGE,
        "COMPLETE",
        "HIGH",
        FINDINGS,
        expired=(LAPSED,),
        started_scan=True,
        waited_seconds=12.4,
    )
    assert [f.id for f in result.blocking] == ["CVE-1", "CVE-3"]
    assert shown(result) == (
        "scan srv/repo:1.0.0@sha256:abc (COMPLETE)\n"
        "severity         findings    allowlisted    blocking  at fail_on=HIGH\n"
        "-------------  ----------  -------------  ----------  -----------------\n"
        "CRITICAL                1              0           1  fails the gate\n"
        "HIGH                    2              1           1  fails the gate\n"
        "MEDIUM                  1              0           0  reported\n"
        "LOW                     1              1           0  reported\n"
        "INFORMATIONAL           0              0           0  reported\n"
        "UNDEFINED               0              0           0  reported\n"
        "findings at or above the gate\n"
        "id     severity    package    version    verdict\n"
        "-----  ----------  ---------  ---------  --------------------------------------------\n"
        "CVE-1  CRITICAL    openssl    3.0.1      BLOCKING\n"
        "CVE-2  HIGH        zlib       1.2        allowlisted until 2099-01-01: not reachable\n"
        "CVE-3  HIGH        curl       8.0        BLOCKING: allowlist entry expired 2020-01-01\n"
        "CVE-5  LOW         tar        1.3        allowlisted until 2099-01-01: not reachable\n"
        "error: allowlist entry CVE-3 expired on 2020-01-01 (reason was: was fixed upstream)\n"
        "FAILED: 5 finding(s), 2 blocking (started a scan, waited 12s)\n"
    )


def test_a_passing_scan_says_so_and_shows_no_findings_table_without_any_to_show() -> None:
    result = ScanResult(IMAGE, "COMPLETE", "CRITICAL", (FINDINGS[3],), waited_seconds=0.2)
    text = shown(result)
    assert "findings at or above the gate" not in text
    assert "MEDIUM                  1              0           0  reported\n" in text
    assert "CRITICAL                0              0           0  fails the gate\n" in text
    assert text.endswith("passed: 1 finding(s), 0 blocking (reused the existing scan, waited 0s)\n")
    scan.gate(result)  # no raise


def test_the_gate_names_expired_allowlist_entries_first() -> None:
    result = ScanResult(IMAGE, "COMPLETE", "HIGH", FINDINGS, expired=(LAPSED,))
    with pytest.raises(ScanFailed) as err:
        scan.gate(result)
    assert err.value.message == "scan allowlist entries expired: CVE-3"
    assert err.value.hint == (
        "re-review each finding: renew `expires` with a reason, or remove the entry"
    )


def test_the_gate_names_the_worst_blocking_finding() -> None:
    result = ScanResult(IMAGE, "COMPLETE", "HIGH", (*FINDINGS[:2], FINDINGS[3]))
    with pytest.raises(ScanFailed) as err:
        scan.gate(result)
    assert err.value.message == (
        "1 finding(s) at HIGH or worse in srv/repo:1.0.0@sha256:abc, "
        "e.g. CVE-1 (CRITICAL, openssl 3.0.1)"
    )
    assert err.value.hint == (
        "fix the image, or allowlist the id with reason and expires in scan.allowlist"
    )
    assert err.value.exit_code == 1


def test_counts_cover_every_severity() -> None:
    result = ScanResult(IMAGE, "COMPLETE", "HIGH", FINDINGS)
    assert result.counts() == {
        "CRITICAL": 1,
        "HIGH": 2,
        "MEDIUM": 1,
        "LOW": 1,
        "INFORMATIONAL": 0,
        "UNDEFINED": 0,
    }


def test_a_lint_report_lists_each_finding_and_the_verdict() -> None:
    findings = (
        LintFinding("app/Dockerfile", 1, "DL3006", "warning", "Always tag the version"),
        LintFinding("app/Dockerfile", 4, "DL3003", "warning", "Use WORKDIR to switch"),
    )
    failed = ScanResult("app/Dockerfile", "LINTED", "HIGH", lint=findings, lint_exit=1)
    assert shown(failed) == (
        "hadolint app/Dockerfile\n"
        "  line  rule    level    message\n"
        "------  ------  -------  ----------------------\n"
        "     1  DL3006  warning  Always tag the version\n"
        "     4  DL3003  warning  Use WORKDIR to switch\n"
        "hadolint app/Dockerfile: 2 finding(s)\n"
    )
    clean = ScanResult("app/Dockerfile", "LINTED", "HIGH", lint=(), lint_exit=0)
    assert shown(clean) == "hadolint app/Dockerfile: clean\n"
