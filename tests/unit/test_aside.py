"""A call run aside returns, or raises, in the caller as if it had been called there, and runs
while the caller goes on: the call below only returns once the caller has gone on."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from shipyard.aside import Aside
from shipyard.errors import ToolUnavailable


def test_the_call_runs_while_the_caller_goes_on_and_its_value_comes_back() -> None:
    caller_went_on = threading.Event()
    aside = Aside(lambda: caller_went_on.wait(timeout=10) and "27.3.1")
    caller_went_on.set()
    assert aside.result() == "27.3.1"
    assert aside.result() == "27.3.1"  # asked again: the same answer, not a second call


def test_its_exception_is_raised_by_result_and_only_there() -> None:
    def refuse() -> str:
        raise ToolUnavailable("the Docker engine is not answering")

    aside = Aside(refuse)
    with pytest.raises(ToolUnavailable, match="not answering"):
        aside.result()


def test_a_call_nobody_waits_for_does_not_keep_the_process_alive() -> None:
    """A caller that fails on bad input exits at once, though the call aside never returns."""
    program = (
        "import threading, sys\n"
        "from shipyard.aside import Aside\n"
        "Aside(threading.Event().wait)\n"
        "sys.exit('error: bad input')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=20, check=False
    )
    assert (proc.returncode, proc.stderr.strip()) == (1, "error: bad input")
