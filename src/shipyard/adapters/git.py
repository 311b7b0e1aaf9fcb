"""The git checkout, read through the git command line."""

from __future__ import annotations

import getpass
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from shipyard import commands
from shipyard.errors import ToolUnavailable, UsageError
from shipyard.records import record
from shipyard.versioning import GitState

_VERSION_TAG = re.compile(r"^v\d+\.\d+\.\d+")
# what git says, depending on the command, about a repository without commits
_NO_COMMITS = (
    "unknown revision",
    "ambiguous argument 'HEAD'",
    "Needed a single revision",
    "does not have any commits yet",
)


@record
class Checkout:
    root: Path
    environ: Mapping[str, str]

    def _git(self, *args: str, check: bool = True) -> str:
        try:
            proc = subprocess.run(
                list(commands.git(*args).argv),
                cwd=self.root,
                capture_output=True,
                text=True,
                check=False,
            )
        except FileNotFoundError:
            raise ToolUnavailable(
                "git is not installed", hint="apt-get install git (scripts/bootstrap.sh does)"
            ) from None
        if check and proc.returncode != 0:
            stderr = proc.stderr.strip()
            if "not a git repository" in stderr:
                raise UsageError(
                    f"{self.root} is not a git checkout",
                    hint="shipyard labels images with the commit: run it inside the repository",
                )
            if any(sign in stderr for sign in _NO_COMMITS):
                raise UsageError(
                    "this checkout has no commits yet",
                    hint="commit first: images are tagged and labelled with the commit",
                )
            last = stderr.splitlines()[-1] if stderr else f"exit code {proc.returncode}"
            raise ToolUnavailable(f"git {' '.join(args)} failed: {last}")
        return proc.stdout.strip()

    def head_sha(self) -> str:
        return self._git("rev-parse", "--verify", "HEAD")

    def head_commit(self) -> tuple[str, str]:
        """HEAD's sha and its commit time, ISO 8601 (the image's created label), with one git
        command."""
        sha, _, when = self._git("log", "-1", "--format=%H%n%cI", "HEAD").partition("\n")
        return sha, when

    def is_dirty(self) -> bool:
        return bool(self._git("status", "--porcelain", "--untracked-files=no"))

    def has_changes_in(self, path: str) -> bool:
        """Uncommitted or untracked (not ignored) files under `path`: what a build would see
        that the commit does not hold."""
        return bool(self._git("status", "--porcelain", "--untracked-files=normal", "--", path))

    def branch(self) -> str | None:
        return (
            self._ci_branch()
            or self._git("symbolic-ref", "--short", "-q", "HEAD", check=False)
            or None
        )

    def head_and_branch(self) -> tuple[str, str | None]:
        """HEAD's sha and branch (as head_sha and branch; None when detached) with one git
        command."""
        sha, _, name = self._git("rev-parse", "HEAD", "--abbrev-ref", "HEAD").partition("\n")
        return sha, self._ci_branch() or (None if name in ("", "HEAD") else name)

    def _ci_branch(self) -> str | None:
        env = self.environ
        if env.get("GITHUB_HEAD_REF"):  # pull_request: the source branch
            return env["GITHUB_HEAD_REF"]
        if env.get("GITHUB_REF_TYPE") == "branch" and env.get("GITHUB_REF_NAME"):
            return env["GITHUB_REF_NAME"]
        return None

    def version_tag(self) -> str | None:
        env = self.environ
        if env.get("GITHUB_REF_TYPE") == "tag" and _VERSION_TAG.match(
            env.get("GITHUB_REF_NAME", "")
        ):
            return env["GITHUB_REF_NAME"]
        tags = self._git("tag", "--points-at", "HEAD", check=False).split()
        versions = sorted(t for t in tags if _VERSION_TAG.match(t))
        return versions[-1] if versions else None

    def release_tags(self) -> list[str]:
        """The vX.Y.Z tags reachable from HEAD: what this line of history released."""
        out = self._git("tag", "--merged", "HEAD", "--list", "v*", check=False)
        return [t for t in out.split() if _VERSION_TAG.match(t)]

    def build_number(self) -> int:
        run = self.environ.get("GITHUB_RUN_NUMBER", "")
        if run.isdigit():
            return int(run)
        return int(self._git("rev-list", "--count", "HEAD"))

    def state(self) -> GitState:
        self.head_sha()  # fails clearly on an empty or missing repository
        return GitState(
            branch=self.branch(), tag=self.version_tag(), build_number=self.build_number()
        )

    def actor(self) -> str:
        env = self.environ
        if env.get("GITHUB_ACTOR"):
            return env["GITHUB_ACTOR"]
        name = self._git("config", "user.name", check=False)
        if name:
            return name
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return os.environ.get("USER", "unknown")

    def remote_url(self) -> str | None:
        url = self._git("config", "--get", "remote.origin.url", check=False)
        if not url:
            return None
        # never carry credentials embedded in a remote URL into an image label
        return re.sub(r"//[^@/]+@", "//", url)
