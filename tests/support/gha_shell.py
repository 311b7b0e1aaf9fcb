"""How the rehearsal starts a `run:` step's shell and reads back what the step wrote: the
argv for each `shell:` value, and the `key=value` and `key<<DELIM` lines of GITHUB_OUTPUT
and GITHUB_ENV."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.gha_job import StepFailed


def _shell_argv(shell: str | None, script: Path) -> list[str]:
    if shell in (None, ""):
        return ["bash", "-e", str(script)]
    if shell == "bash":
        return ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
    if shell == "sh":
        return ["sh", "-e", str(script)]
    if shell == "python":
        return ["python", str(script)]
    if "{0}" in shell:
        return [part.replace("{0}", str(script)) for part in shell.split()]
    raise StepFailed(f"shell {shell!r} is not supported by the rehearsal")


def read_key_values(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: `key=value` lines and `key<<DELIM` … `DELIM` blocks."""
    found: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        heredoc = re.match(r"^([^=<]+)<<(.+)$", line)
        if heredoc and "=" not in line.split("<<", 1)[0]:
            key, delimiter = heredoc.group(1), heredoc.group(2)
            body: list[str] = []
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ValueError(f"{key}: no closing {delimiter!r}")
            i += 1
            found[key] = "\n".join(body)
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"not key=value: {line!r}")
        found[key] = value
    return found
