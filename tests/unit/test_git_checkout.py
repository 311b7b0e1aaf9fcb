"""What shipyard reads of the checkout, from a real git repository: HEAD's commit with its time
or its branch in one git command each, answering exactly as the single questions do (a detached
HEAD has no branch, GitHub's variables name the branch of a CI run), and one clear line for a
checkout without commits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shipyard.adapters.git import Checkout
from shipyard.errors import UsageError

ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_COMMITTER_DATE": "2026-11-30T09:15:00+09:00",
    "PATH": "/usr/bin:/bin",
    "HOME": "/nonexistent",
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, env=ENV, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "commit", "-q", "--allow-empty", "-m", "first")
    return tmp_path


def test_head_commit_is_the_sha_and_the_commit_time(repo: Path) -> None:
    checkout = Checkout(repo, {})
    sha, when = checkout.head_commit()
    assert sha == checkout.head_sha() == git(repo, "rev-parse", "HEAD")
    assert when == "2026-11-30T09:15:00+09:00"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "main"),
        ({"GITHUB_HEAD_REF": "feature/pr"}, "feature/pr"),
        ({"GITHUB_REF_TYPE": "branch", "GITHUB_REF_NAME": "release"}, "release"),
        ({"GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v1.0.0"}, "main"),
    ],
)
def test_head_and_branch_answer_as_head_sha_and_branch(
    repo: Path, environ: dict[str, str], expected: str
) -> None:
    checkout = Checkout(repo, environ)
    assert checkout.head_and_branch() == (checkout.head_sha(), expected)
    assert checkout.branch() == expected


def test_a_detached_head_has_no_branch_and_an_ambiguous_name_is_shortened_alike(
    repo: Path,
) -> None:
    git(repo, "checkout", "-q", "-b", "topic/x")
    git(repo, "tag", "topic/x")  # a tag of the same name: git says heads/topic/x
    checkout = Checkout(repo, {})
    assert checkout.head_and_branch() == (checkout.head_sha(), "heads/topic/x")
    assert checkout.branch() == "heads/topic/x"
    git(repo, "checkout", "-q", "--detach")
    assert checkout.head_and_branch() == (checkout.head_sha(), None)
    assert checkout.branch() is None


@pytest.mark.parametrize("question", ["head_sha", "head_commit", "head_and_branch"])
def test_a_checkout_without_commits_is_one_line_naming_the_fix(
    tmp_path: Path, question: str
) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    with pytest.raises(UsageError) as caught:
        getattr(Checkout(tmp_path, {}), question)()
    assert (caught.value.message, caught.value.hint) == (
        "this checkout has no commits yet",
        "commit first: images are tagged and labelled with the commit",
    )


@pytest.mark.parametrize("question", ["head_sha", "head_commit", "head_and_branch"])
def test_a_directory_outside_git_is_named(tmp_path: Path, question: str) -> None:
    with pytest.raises(UsageError) as caught:
        getattr(Checkout(tmp_path, {}), question)()
    assert caught.value.message == f"{tmp_path} is not a git checkout"
