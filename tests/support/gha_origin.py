"""The repository a rehearsed workflow runs for, as GitHub holds it: Origin, a clean git
repository made from a working tree, with its commits, tags and pull requests' merge refs;
and git(), which runs git with a fixed identity."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Rehearsal",
    "GIT_AUTHOR_EMAIL": "rehearsal@example.com",
    "GIT_COMMITTER_NAME": "Rehearsal",
    "GIT_COMMITTER_EMAIL": "rehearsal@example.com",
}


def git(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **GIT_IDENTITY, **(env or {})},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} in {cwd}: {proc.stderr.strip()}")
    return proc.stdout.strip()


# -- the repository on "GitHub" -------------------------------------------------------------------


@dataclass
class Origin:
    """The repository the workflow runs for: a clean git repository whose first commit holds
    the source tree's files as they are in its working tree (tracked ones and new ones git
    does not ignore), never .venv, .shipyard, reports or caches."""

    path: Path
    repository: str = "acme/gamepulse"

    @classmethod
    def from_working_tree(
        cls,
        source: Path,
        dest: Path,
        *,
        edit: Callable[[Path], None] | None = None,
        repository: str = "acme/gamepulse",
    ) -> Origin:
        listed = git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        dest.mkdir(parents=True)
        for name in sorted(set(filter(None, listed.split("\0")))):
            src = source / name
            if not src.is_file():  # deleted in the working tree
                continue
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
        if edit is not None:
            edit(dest)
        git(dest, "init", "-q", "-b", "main")
        git(dest, "config", "uploadpack.allowAnySHA1InWant", "true")
        origin = cls(dest, repository)
        origin.commit("the working tree under test")
        return origin

    def commit(
        self, message: str, files: Mapping[str, str] | None = None, *, branch: str = "main"
    ) -> str:
        """A commit on `branch` (created from main when new); returns its sha."""
        if git(self.path, "branch", "--show-current") != branch:
            if git(self.path, "branch", "--list", branch):
                git(self.path, "checkout", "-q", branch)
            else:
                git(self.path, "checkout", "-q", "-b", branch, "main")
        for name, text in (files or {}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

    def tag(self, name: str, ref: str = "main") -> str:
        git(self.path, "tag", "-a", name, "-m", name, ref)
        return git(self.path, "rev-parse", f"{name}^{{commit}}")

    def pull_request(self, number: int, head: str, base: str = "main") -> str:
        """GitHub's test merge commit refs/pull/N/merge of `head` into `base`."""
        scratch = self.path.parent / f".merge-{number}-{uuid.uuid4().hex[:6]}"
        git(self.path, "worktree", "add", "-q", "--detach", str(scratch), base)
        try:
            git(scratch, "merge", "-q", "--no-ff", "-m", f"Merge {head} into {base}", head)
            sha = git(scratch, "rev-parse", "HEAD")
        finally:
            git(self.path, "worktree", "remove", "--force", str(scratch))
        git(self.path, "update-ref", f"refs/pull/{number}/merge", sha)
        git(self.path, "update-ref", f"refs/pull/{number}/head", head)
        return sha

    def sha(self, ref: str) -> str:
        return git(self.path, "rev-parse", f"{ref}^{{commit}}")

    def read(self, name: str, ref: str = "main") -> str:
        """A file as `ref` holds it."""
        return git(self.path, "show", f"{ref}:{name}") + "\n"
