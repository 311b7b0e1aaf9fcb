"""Every `docs/…` path that any tracked file names exists, so a pointer in the workflow, a
script, an error hint or the README never leads nowhere."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO

DOC_PATH = re.compile(r"(?<![\w/.-])docs/[\w./-]*\w")


def _tracked_text_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [name for name in listed if (REPO / name).is_file()]


def test_every_named_docs_path_exists() -> None:
    missing: list[str] = []
    for name in _tracked_text_files():
        try:
            text = (REPO / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for match in DOC_PATH.finditer(text):
            target = match.group(0).split("#", 1)[0]
            if not (REPO / target).exists():
                missing.append(f"{name}: {target}")
    assert not missing, "paths under docs/ that do not exist:\n" + "\n".join(sorted(set(missing)))


def test_the_ci_cd_guide_is_one_of_them() -> None:
    names = {
        m.group(0)
        for n in _tracked_text_files()
        for m in DOC_PATH.finditer((REPO / n).read_text(encoding="utf-8", errors="replace"))
    }
    assert "docs/cicd.md" in names


# a test named in prose or after `::`; not a module path, not a config key (`.test_x`, `test_x =`)
TEST_NAME = re.compile(r"(?<![\w./])test_[a-z0-9_]+(?![\w.]| =)")


def test_every_test_the_docs_cite_exists() -> None:
    """docs/ cite tests as the proof of a claim: a renamed or deleted test breaks this."""
    modules = list((REPO / "tests").rglob("test_*.py"))
    defined = {path.stem for path in modules} | {
        match.group(1)
        for path in modules
        for match in re.finditer(r"^\s*def (test_[a-z0-9_]+)", path.read_text(), re.M)
    }
    cited = {
        (doc.name, name)
        for doc in (REPO / "docs").glob("*.md")
        for name in TEST_NAME.findall(doc.read_text())
        if not name.endswith("_")
    }
    missing = sorted(f"{doc}: {name}" for doc, name in cited if name not in defined)
    assert not missing, "docs cite tests that do not exist:\n" + "\n".join(missing)
