"""What every task shares: loading config, mapping errors to exit codes, signals, and the one
way a task reports its result (plan, --json document, table, GitHub outputs)."""

from __future__ import annotations

import functools
import inspect
import os
import signal
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from invoke.exceptions import Exit
from invoke.tasks import Task, task

if TYPE_CHECKING:
    from shipyard.console import Console
    from shipyard.context import Context
    from shipyard.plan import Plan

F = TypeVar("F", bound=Callable[..., Any])

ENV_HELP = "environment: a file in deploy/environments/ (default: local)"
DRY_RUN_HELP = "print the plan as a table and change nothing"
DEBUG_HELP = "show tracebacks for unexpected errors"
JSON_HELP = "print the result as JSON on stdout"
# for a task written as a plain function: the help of the shared flags it has
COMMON_HELP = {"env": ENV_HELP, "dry_run": DRY_RUN_HELP, "debug": DEBUG_HELP, "json": JSON_HELP}


def context(env: str, *, overrides: dict[str, Any] | None = None, quiet: bool = False) -> Context:
    from shipyard.config import find_root, load_config
    from shipyard.console import Console
    from shipyard.context import Context

    root = find_root()
    config = load_config(env, root=root, overrides=overrides)
    return Context(config=config, root=root, console=Console(quiet=quiet))


def json_wanted() -> bool:
    """--json was given: stdout carries one document, so human output steps aside."""
    from shipyard.console import json_mode

    return json_mode()


def _debug_wanted(kwargs: dict[str, Any]) -> bool:
    return bool(kwargs.get("debug")) or os.environ.get("SHIPYARD_DEBUG") == "1"


class _Terminated(BaseException):
    """SIGTERM, raised where the process is, so cleanup runs as for Ctrl-C."""


def _install_signal_handlers() -> None:
    def on_term(_signum: int, _frame: Any) -> None:
        raise _Terminated()

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, on_term)
    # `inv status | head` closes the pipe early: end quietly, as command-line tools do
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


class SharedTask(Task):  # type: ignore[type-arg]
    """A task that is its own deep copy. Invoke deep-copies every task of the namespace it
    loads, on every run, before anything else; a task is never changed once defined, and a
    process loads one namespace, so the copies only cost start-up time."""

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedTask:
        return self


def shipyard_task(*args: Any, **kwargs: Any) -> Callable[[F], Any]:
    """@task plus shipyard's error contract: one line on stderr, exit 1/2/3/130, no traceback
    unless --debug (or SHIPYARD_DEBUG=1), and then one printed through the redactor, before
    that line, with the same exit code."""
    help_ = {**COMMON_HELP, **kwargs.pop("help", {})}

    def decorate(fn: F) -> Any:
        @functools.wraps(fn)
        def wrapper(c: Any, *a: Any, **kw: Any) -> Any:
            from shipyard.console import Console, set_json_mode
            from shipyard.errors import ShipyardError

            _install_signal_handlers()
            set_json_mode(bool(kw.get("json")))
            console = Console()
            try:
                return fn(c, *a, **kw)
            except ShipyardError as exc:
                if _debug_wanted(kw):
                    console.show_traceback(exc)
                _json_failure(console, exc.one_line(), exc.exit_code, exc.result)
                console.error(exc.one_line())
                raise Exit(code=exc.exit_code) from None
            except (KeyboardInterrupt, _Terminated):
                _json_failure(console, "interrupted", 130)
                console.error("interrupted")
                raise Exit(code=130) from None
            except Exit:
                raise
            except Exception as exc:
                from shipyard.secrets import redact

                # never re-raised: Invoke would print the traceback as is, secrets and all
                debug = _debug_wanted(kw)
                if debug:
                    console.show_traceback(exc)
                line = f"unexpected {type(exc).__name__}: {redact(str(exc))}" + (
                    "" if debug else " (run again with --debug for the traceback)"
                )
                _json_failure(console, line, 1)
                console.error(line)
                raise Exit(code=1) from None

        # the help of the flags this task has (invoke rejects help for unknown ones)
        params = inspect.signature(fn).parameters
        shown = {k: v for k, v in help_.items() if k in params}
        return task(*args, help=shown, klass=SharedTask, **kwargs)(wrapper)

    return decorate


OUTCOME_BY_EXIT_CODE = {1: "failed", 2: "refused", 3: "unknown", 130: "interrupted"}


def _json_failure(console: Any, line: str, exit_code: int, result: object = None) -> None:
    """Under --json every failure still prints one document on stdout: the outcome, the error
    line, the exit code and, when a rollout observed it, what serves. A task that already
    printed its document (a release's result carries its own error) adds nothing."""
    from shipyard.console import json_mode, json_printed
    from shipyard.targets.base import DeployResult

    if not json_mode() or json_printed():
        return
    document: dict[str, Any] = {
        "outcome": OUTCOME_BY_EXIT_CODE.get(exit_code, "failed"),
        "error": line,
        "exit_code": exit_code,
    }
    if isinstance(result, DeployResult):
        from shipyard.operations.deploy import as_json

        document = {**as_json(result), **document, "outcome": as_json(result)["outcome"]}
    elif exit_code == 2:
        document["changed"] = False  # bad input is refused before the first side effect
    console.json(document)


def report(
    console: Console,
    *,
    plan: Plan | None = None,
    document: Callable[[], Any] | None = None,
    human: Callable[[], object] | None = None,
    outputs: Mapping[str, Any] | None = None,
    human_under_json: bool = False,
    failure: BaseException | None = None,
) -> None:
    """A task's result, one way for every task. A plan is shown and nothing else: a dry run
    has no result. Else the document under --json (the one on stdout), the human form (a
    table, a line) without it; a task with no document shows the human form either way (on
    stderr under --json), and with `human_under_json` before the document too, so its tables
    still reach the job summary. Then the GitHub outputs, which CI reads in either mode, and
    last the failure the result is, if it is one (its exit code is the task's)."""
    if plan is not None:
        plan.show(console)
        return
    as_json = document is not None and json_wanted()
    if human is not None and (human_under_json or not as_json):
        human()
    if as_json and document is not None:
        console.json(document())
    if outputs:
        console.set_outputs(outputs)
    if failure is not None:
        raise failure
