"""The commands shipyard runs besides docker build/login (tests/unit/test_images.py) and the
local containers' (tests/unit/test_container_run.py), compared whole as values."""

from __future__ import annotations

from shipyard import commands
from shipyard.adapters.isolation import Isolation


def test_k6_run_exports_its_summary_and_passes_variables_with_e() -> None:
    cmd = commands.k6_run(
        "/venv/bin/k6",
        "deploy/loadtest/app.js",
        vus=3,
        duration="10s",
        trend_stats="p(95)",
        summary="reports/l.json",
        variables=[("BASE_URL", "http://h"), ("MAX_P95_MS", "500")],
        env=["PATH"],
    )
    assert cmd.argv == (
        *("/venv/bin/k6", "run", "--quiet", "--no-usage-report", "--address", ""),
        *("--vus", "3", "--duration", "10s", "--summary-trend-stats", "p(95)"),
        *("--summary-export", "reports/l.json", "-e", "BASE_URL=http://h", "-e", "MAX_P95_MS=500"),
        "deploy/loadtest/app.js",
    )
    assert cmd.env == ("PATH",)


def test_hadolint_for_a_report_or_for_a_log() -> None:
    assert commands.hadolint("hl", "app/Dockerfile", machine_readable=True).argv == (
        *("hl", "--format", "json", "app/Dockerfile"),
    )
    assert commands.hadolint("hl", "app/Dockerfile").argv == ("hl", "--no-color", "app/Dockerfile")


def test_nox_session_runs_with_the_given_interpreter() -> None:
    assert commands.nox_session("/venv/bin/python", "lint").argv == (
        *("/venv/bin/python", "-m", "nox", "-s", "lint"),
    )


def test_networks_and_volumes_are_created_with_their_labels() -> None:
    labels = {"dev.shipyard.stack": "s1", "x": "y"}
    assert commands.docker_network_create("net", labels).argv == (
        *("docker", "network", "create", "--label", "dev.shipyard.stack=s1", "--label", "x=y"),
        "net",
    )
    assert commands.docker_volume_create("vol", {}).argv == ("docker", "volume", "create", "vol")


def test_the_isolation_rule_is_inserted_first_and_waits_for_the_xtables_lock() -> None:
    isolation = Isolation("stack-1", engine_version=lambda: "27.5.1", binary="/usr/sbin/iptables")
    assert isolation.insert("br-1", 8080).argv == (
        *("/usr/sbin/iptables", "-w", "10", "-I", "DOCKER-USER", "1"),
        *("-o", "br-1", "!", "-i", "br-1", "-p", "tcp", "--dport", "8080"),
        *("-m", "comment", "--comment", "shipyard stack-1", "-j", "DROP"),
    )
