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


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: str) -> set[str]:
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", page, re.M)}


def test_every_relative_link_in_the_readme_and_the_docs_resolves() -> None:
    broken = []
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for page in pages:
        for target in LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue  # https:, mailto:
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(REPO)}: {target}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked.read_text()):
                broken.append(f"{page.relative_to(REPO)}: {target}: no such heading")
    assert not broken, "\n".join(broken)


def test_the_docs_index_lists_every_page() -> None:
    index = (REPO / "docs" / "README.md").read_text()
    listed = set(LINK.findall(index))
    pages = {p.name for p in (REPO / "docs").glob("*.md") if p.name != "README.md"}
    assert pages - listed == set(), "pages docs/README.md does not list"


def _error_kinds() -> dict[str, int]:
    """Every error class shipyard reports to a user → its exit code, from every module."""
    import importlib
    import pkgutil

    import shipyard
    from shipyard.errors import ShipyardError

    for module in pkgutil.walk_packages(shipyard.__path__, "shipyard."):
        importlib.import_module(module.name)
    kinds: dict[str, int] = {}
    todo = [ShipyardError]
    while todo:
        kind = todo.pop()
        kinds[kind.__name__] = kind.exit_code
        todo += kind.__subclasses__()
    return kinds


def test_troubleshooting_names_every_error_kind_with_its_exit_code() -> None:
    """The exit-code table of docs/troubleshooting.md lists each error class under the exit
    code it really has, so a new kind of error, or one whose code changes, is noticed."""
    page = (REPO / "docs" / "troubleshooting.md").read_text()
    table = page.split("| exit | meaning | error kinds |", 1)[1].split("\n\n", 1)[0]
    documented = {
        name: int(row.split("|")[1])
        for row in table.splitlines()[2:]
        for name in re.findall(r"`(\w+)`", row.split("|")[3])
    }
    assert documented == _error_kinds()
