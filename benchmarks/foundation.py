"""Foundation benchmark (issue 2), on a throwaway copy of the project with unique repositories:

1. `inv --list` against `python -c "import invoke"`            target <= 1.5x
2. `inv build tag push` against the same raw docker commands     target <= 1.3x
   (docker buildx build, docker tag x3, docker login, docker push x3)
3. a second, unchanged `inv push` against the first one          target <= 0.5x

Medians of several runs; each build/push run uses a fresh repository so every push uploads.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REGISTRY = "127.0.0.1:5000"
PASSWORD_FILE = Path("/var/lib/shipyard/registry/password")
RUNS = int(os.environ.get("SHIPYARD_BENCH_RUNS", "5"))


def _run(argv: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None) -> None:
    proc = subprocess.run(
        argv, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()[-500:]}")


def _timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _project(base: Path) -> tuple[Path, dict[str, str]]:
    path = base / "project"
    path.mkdir()
    for item in ("app", "deploy"):
        shutil.copytree(ROOT / item, path / item)
    for item in ("version.txt", "tasks.py"):
        shutil.copy(ROOT / item, path / item)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ECR_", "AWS_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
    )
    _run(["git", "init", "-q", "-b", "main"], path, env)
    _run(["git", "add", "-A"], path, env)
    _run(["git", "commit", "-q", "-m", "bench"], path, env)
    return path, env


def _remove_images(repositories: list[str]) -> None:
    listed = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    names = set(repositories)
    refs = [r for r in listed if r.rsplit(":", 1)[0].rsplit("/", 1)[-1] in names]
    if refs:
        subprocess.run(["docker", "image", "rm", "-f", *refs], capture_output=True, check=False)


def bench_list(path: Path, env: dict[str, str]) -> tuple[float, float]:
    inv = [str(BIN / "inv"), "--list"]
    bare = [sys.executable, "-c", "import invoke"]
    for argv in (inv, bare):  # warm the file cache
        _run(argv, path, env)
    inv_times, bare_times = [], []
    for _ in range(max(RUNS, 7)):
        inv_times.append(_timed(lambda: _run(inv, path, env)))
        bare_times.append(_timed(lambda: _run(bare, path, env)))
    return statistics.median(inv_times), statistics.median(bare_times)


def bench_release(path: Path, env: dict[str, str], created: list[str]) -> tuple[float, float]:
    password = PASSWORD_FILE.read_text().strip()
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
    ).stdout.strip()
    committed = subprocess.run(
        ["git", "log", "-1", "--format=%cI"], cwd=path, capture_output=True, text=True, check=True
    ).stdout.strip()
    version = (path / "version.txt").read_text().strip()
    today = time.strftime("%Y%m%d", time.gmtime())

    def raw(repository: str) -> None:
        local = f"{repository}:{version}"
        refs = [f"{REGISTRY}/{repository}:{t}" for t in (version, f"sha-{sha[:7]}", today)]
        _run(
            [
                "docker", "buildx", "build", "--file", "app/Dockerfile", "--tag", local,
                "--build-arg", f"APP_VERSION={version}", "--build-arg", f"APP_REVISION={sha}",
                "--label", f"org.opencontainers.image.version={version}",
                "--label", f"org.opencontainers.image.revision={sha}",
                "--label", f"org.opencontainers.image.created={committed}",
                "--load", "app",
            ],
            path,
            env,
        )  # fmt: skip
        for ref in refs:
            _run(["docker", "tag", local, ref], path, env)
        _run(
            ["docker", "login", "--username", "shipyard", "--password-stdin", REGISTRY],
            path,
            env,
            stdin=password,
        )
        for ref in refs:
            _run(["docker", "push", "--quiet", ref], path, env)

    def shipyard(repository: str) -> None:
        # flags after `push` belong to push alone: the repository goes through the environment
        _run(
            [str(BIN / "inv"), "build", "tag", "push"], path, {**env, "ECR_REPOSITORY": repository}
        )

    raw_times, inv_times = [], []
    for i in range(RUNS + 1):
        pair = [("raw", raw), ("inv", shipyard)]
        if i % 2:
            pair.reverse()  # alternate the order so neither side always runs on a warmer engine
        for kind, fn in pair:
            repository = f"bench{kind}{uuid.uuid4().hex[:8]}"
            created.append(repository)
            seconds = _timed(lambda fn=fn, repository=repository: fn(repository))  # type: ignore[misc]
            if i > 0:  # the first round only warms the build cache
                (raw_times if kind == "raw" else inv_times).append(seconds)
    return statistics.median(inv_times), statistics.median(raw_times)


def bench_second_push(path: Path, env: dict[str, str], created: list[str]) -> tuple[float, float]:
    firsts, seconds = [], []
    for _ in range(RUNS):
        repository = f"benchpush{uuid.uuid4().hex[:8]}"
        created.append(repository)
        _run([str(BIN / "inv"), "build", "tag"], path, {**env, "ECR_REPOSITORY": repository})
        push = [str(BIN / "inv"), "push", "--repository", repository]
        firsts.append(_timed(lambda push=push: _run(push, path, env)))  # type: ignore[misc]
        seconds.append(_timed(lambda push=push: _run(push, path, env)))  # type: ignore[misc]
    return statistics.median(seconds), statistics.median(firsts)


def main() -> int:
    if not PASSWORD_FILE.is_file():
        print("error: the local registry is not set up (run scripts/bootstrap.sh)")
        return 2
    created: list[str] = []
    rows: list[list[str]] = []
    missed = False
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-") as tmp:
        path, env = _project(Path(tmp))
        try:
            listing = bench_list(path, env)
            release = bench_release(path, env, created)
            second = bench_second_push(path, env, created)
            measured = [
                ("inv --list vs python -c 'import invoke'", listing, 1.5),
                ("inv build tag push vs raw docker commands", release, 1.3),
                ("second unchanged inv push vs first push", second, 0.5),
            ]
        finally:
            _remove_images(created)
    for label, (ours, baseline), target in measured:
        ratio = ours / baseline
        ok = ratio <= target
        missed |= not ok
        rows.append(
            [label, f"{ours:.3f}s", f"{baseline:.3f}s", f"{ratio:.2f}x", f"<= {target}x",
             "ok" if ok else "MISSED"]
        )  # fmt: skip
    print(tabulate(rows, headers=["measure", "shipyard", "baseline", "ratio", "target", "result"]))
    print(f"(medians of {RUNS}+ runs; registry {REGISTRY}, repositories made for this run)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
