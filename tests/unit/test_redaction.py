"""A secret is masked in every form it can be printed in, at every place shipyard prints.

One matrix: each entry point (console lines, warnings, errors, tables, JSON, plans, the job
summary, GitHub outputs, an error's one line, a --debug traceback) is fed each form of one
secret (the value, each of its lines, JSON-escaped, base64, the registry's Basic auth,
URL-encoded, shell-quoted, Python's repr) and must print none of it. The secret is known to
the redactor the way a run learns it: resolved from the configuration's registry password.
"""

from __future__ import annotations

import base64
import io
import json
import shlex
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard import secrets as secrets_module
from shipyard.config.base import SecretRef
from shipyard.config.model import OciRegistryConfig, ShipyardConfig
from shipyard.console import Console
from shipyard.context import Context
from shipyard.errors import ShipyardError
from shipyard.plan import Plan
from shipyard.secrets import MASK
from tests.conftest import Project

USER = "shipyard"
# a space, both quotes, / + % & and a non-ASCII letter make every form below differ from the
# value; the second line is what a PEM body or a .netrc line would be
SECRET = "Tr0ub4dor &'3\"/x+y%z é\nline-two-of-the-key"
SECRET_VAR = "SHIPYARD_TEST_SECRET"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


FORMS: dict[str, Callable[[str], str]] = {
    "value": lambda s: s,
    "first line": lambda s: s.splitlines()[0],
    "second line": lambda s: s.splitlines()[1],
    "json-escaped": lambda s: json.dumps(s)[1:-1],
    "base64": _b64,
    "basic-auth": lambda s: _b64(f"{USER}:{s}"),
    "url-quote": urllib.parse.quote,
    "url-quote-plus": urllib.parse.quote_plus,
    "shell-quoted": shlex.quote,
    "python-repr": repr,
}


@dataclass
class Run:
    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    request: pytest.FixtureRequest

    def printed(self, act: Callable[[Console], object], *, github: bool = True) -> str:
        """Everything `act` made the console print or write, GitHub's files included."""
        summary, outputs = self.tmp / "summary.md", self.tmp / "outputs"
        if github:
            self.monkeypatch.setenv("GITHUB_ACTIONS", "true")
            self.monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
            self.monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
        else:
            self.monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
        out, err = io.StringIO(), io.StringIO()
        returned = act(Console(out, err))
        files = "".join(p.read_text() for p in (summary, outputs) if p.exists())
        extra = returned if isinstance(returned, str) else ""
        return out.getvalue() + err.getvalue() + files + extra


def _plan(console: Console, leak: str) -> None:
    plan = Plan(f"login {leak}")
    plan.add("login", f"as {USER} with {leak}", ["tool", "--password", leak, f"--pw={leak}"])
    plan.notes.append(f"the password is {leak}")
    plan.show(console)


def _group(console: Console, leak: str) -> None:
    with console.group(f"pushing with {leak}"):
        console.line("inside")


def _debug_traceback(run: Run, leak: str) -> str:
    """A task that resolves the secret through the config, then fails quoting it (as an SDK
    exception would), run as a user runs it: `inv ... --debug`, and with SHIPYARD_DEBUG=1."""
    project: Project = run.request.getfixturevalue("project")
    config = project.path / "deploy" / "environments" / "local.toml"
    text = config.read_text()
    start = text.index("password = ")
    end = text.index("\n", start)
    config.write_text(text[:start] + f'password = {{ env = "{SECRET_VAR}" }}' + text[end:])
    (project.path / "tasks.py").write_text(LEAK_TASKS)
    env = {SECRET_VAR: SECRET, "SHIPYARD_TEST_LEAK": leak}
    flagged = project.inv("leak", "--debug", extra_env=env, timeout=60)
    by_env = project.inv("leak", extra_env={**env, "SHIPYARD_DEBUG": "1"}, timeout=60)
    for proc in (flagged, by_env):
        assert proc.returncode == 1, proc.stderr
        assert "Traceback (most recent call last)" in proc.stderr
        assert "RuntimeError: the SDK said:" in proc.stderr
    return flagged.stdout + flagged.stderr + by_env.stdout + by_env.stderr


LEAK_TASKS = '''
import os

from shipyard.tasks import namespace as ns
from shipyard.tasks._common import context, shipyard_task


@shipyard_task()
def leak(c, env="local", debug=False):
    """Resolve the registry password from the config, then fail quoting a form of it."""
    ctx = context(env)
    assert ctx.registry.credentials() is not None
    raise RuntimeError("the SDK said: " + os.environ["SHIPYARD_TEST_LEAK"])


ns.add_task(leak)
'''

ENTRY_POINTS: dict[str, Callable[[Run, str], str]] = {
    "line": lambda r, leak: r.printed(lambda c: c.line(f"token {leak} end")),
    "info": lambda r, leak: r.printed(lambda c: c.info(f"token {leak} end")),
    "progress": lambda r, leak: r.printed(lambda c: c.progress(f"token {leak} end")),
    "warn": lambda r, leak: r.printed(lambda c: c.warn(f"token {leak} end")),
    "warn (terminal)": lambda r, leak: r.printed(lambda c: c.warn(leak), github=False),
    "error": lambda r, leak: r.printed(lambda c: c.error(f"token {leak} end")),
    "error (terminal)": lambda r, leak: r.printed(lambda c: c.error(leak), github=False),
    "table": lambda r, leak: r.printed(
        lambda c: c.table(["name", leak], [["x", f"v {leak}"], [leak, 1.0]], title=leak)
    ),
    "json": lambda r, leak: r.printed(lambda c: c.json({"k": f"v {leak}", "all": [leak]})),
    "plan": lambda r, leak: r.printed(lambda c: _plan(c, leak)),
    "group title": lambda r, leak: r.printed(lambda c: _group(c, leak)),
    "step summary": lambda r, leak: r.printed(lambda c: c.step_summary(f"**{leak}**")),
    "github outputs": lambda r, leak: r.printed(
        lambda c: c.set_outputs({"one": leak, "two": f"a\n{leak}"})
    ),
    "exception one_line": lambda _run, leak: ShipyardError(
        f"failed with {leak}", hint=f"retry without {leak}"
    ).one_line(),
    "--debug traceback": _debug_traceback,
}


@pytest.fixture
def known_secret(tmp_path: Path) -> Iterator[None]:
    """SECRET known to the redactor as a run learns it: the registry password of the config,
    resolved (which also makes its Basic auth known); forgotten afterwards, so it cannot
    mask text in other tests."""
    saved = set(secrets_module._known)
    config = ShipyardConfig(
        environment="local",
        registry=OciRegistryConfig(username=USER, password=SecretRef(env=SECRET_VAR)),
    )
    ctx = Context(
        config=config, root=tmp_path, console=Console(quiet=True), environ={SECRET_VAR: SECRET}
    )
    assert ctx.registry.credentials() is not None
    yield
    with secrets_module._lock:
        secrets_module._known.clear()
        secrets_module._known.update(saved)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_no_form_of_a_secret_reaches_any_output(
    entry: str,
    form: str,
    known_secret: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    leak = FORMS[form](SECRET)
    printed = ENTRY_POINTS[entry](Run(tmp_path, monkeypatch, request), leak)
    assert leak not in printed, printed
    for line in SECRET.splitlines():
        assert line not in printed, printed
    assert MASK in printed


def test_short_lines_of_a_multi_line_secret_are_not_searched_for(known_secret: None) -> None:
    """Lines under the minimum are structure (braces, `---`, `true`), which also appears in
    ordinary output: masking them there would corrupt tables and JSON."""
    from shipyard.secrets import Secret, redact

    Secret("{\n  true\n  the-real-secret-line\n}")
    assert redact('{"latest": true}') == '{"latest": true}'
    assert redact("key: the-real-secret-line") == f"key: {MASK}"
