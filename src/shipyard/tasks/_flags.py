"""Task flags, each declared once: a task's options are a frozen dataclass whose fields carry
their help (`flag()`), and `bind` derives the Invoke task from it. Invoke reads a task's flags
from its signature, so the task it gets has one synthesized from the fields, in their order
(which also decides the short flags), then --debug and --json, which every task has."""

from __future__ import annotations

import dataclasses
import inspect
import keyword
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

from shipyard.records import record
from shipyard.tasks._common import DEBUG_HELP, DRY_RUN_HELP, ENV_HELP, JSON_HELP, shipyard_task

OptionsT = TypeVar("OptionsT")

_METADATA_KEY = "shipyard.flag"


@record
class Flag:
    """A flag's help text; its name on the command line when that cannot be the field's (a
    builtin's or a keyword's, e.g. --set, --from); whether it repeats (a list)."""

    text: str
    name: str = ""
    iterable: bool = False


def flag(default: Any, text: str, *, name: str = "", iterable: bool = False) -> Any:
    """An options field that is a flag: its default (which also sets its type on the command
    line, as Invoke infers it), its help, and its name when not the field's."""
    return dataclasses.field(default=default, metadata={_METADATA_KEY: Flag(text, name, iterable)})


def env_flag(default: str = "local") -> Any:
    return flag(default, ENV_HELP)


def dry_run_flag(text: str = DRY_RUN_HELP) -> Any:
    return flag(False, text)


# after every task's own flags; read by the error contract (--debug) and report() (--json)
TRAILING_FLAGS = {"debug": Flag(DEBUG_HELP), "json": Flag(JSON_HELP)}


@dataclass_transform(frozen_default=True)
def task_options(cls: type[OptionsT]) -> type[OptionsT]:
    """Declare a task's options: a frozen dataclass of `flag()` fields. It becomes one when
    its task first runs (or through as_dataclass), not here: `inv --list` reads only the
    fields as written, and making two dozen dataclasses would slow every start-up by ~10 ms."""
    declared = _declared_fields(cls)
    missing = [name for name in inspect.get_annotations(cls) if name not in declared]
    if missing:
        raise TypeError(f"{cls.__name__}: options without flag(): {', '.join(missing)}")
    return cls


def as_dataclass(options: type[OptionsT]) -> type[OptionsT]:
    """The options class, made the frozen dataclass it was declared as (once)."""
    if not dataclasses.is_dataclass(options):
        record(options)  # in place: the class stays the same object
    return options


def _declared_fields(options: type[Any]) -> dict[str, dataclasses.Field[Any]]:
    """The class's fields by name, in the order written (which orders the flags)."""
    if dataclasses.is_dataclass(options):
        return {f.name: f for f in dataclasses.fields(options)}
    return {k: v for k, v in vars(options).items() if isinstance(v, dataclasses.Field)}


def flag_of(field: dataclasses.Field[Any]) -> Flag:
    found = field.metadata.get(_METADATA_KEY)
    if not isinstance(found, Flag):
        raise TypeError(f"option {field.name} is no flag: declare it with flag()")
    return found


def _parameter_name(attr: str, declared: Flag) -> str:
    """The name Invoke sees: the flag's, with a keyword's trailing underscore (from_ is
    --from), which Invoke strips."""
    name = (declared.name or attr).replace("-", "_")
    return f"{name}_" if keyword.iskeyword(name) else name


def flags_of(options: type[Any]) -> dict[str, tuple[str | None, Flag, Any]]:
    """Every flag of a task bound to `options`, by the parameter name Invoke sees: the
    options field it fills (None for the trailing flags), its Flag and its default."""
    own = {
        _parameter_name(attr, flag_of(f)): (attr, flag_of(f), f.default)
        for attr, f in _declared_fields(options).items()
    }
    return own | {param: (None, f, False) for param, f in TRAILING_FLAGS.items()}


def bind(
    options: type[OptionsT], *, name: str | None = None
) -> Callable[[Callable[[Any, OptionsT], None]], Any]:
    """The Invoke task (under shipyard's error contract) that parses the flags of `options`
    and calls the decorated `fn(c, opts)` with them."""
    flags = flags_of(options)
    field_by_parameter = {param: attr for param, (attr, _, _) in flags.items() if attr}

    def decorate(fn: Callable[[Any, OptionsT], None]) -> Any:
        def body(c: Any, **given: Any) -> None:
            values = {attr: given[param] for param, attr in field_by_parameter.items()}
            fn(c, as_dataclass(options)(**values))

        keyed = inspect.Parameter.POSITIONAL_OR_KEYWORD
        body.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("c", keyed)]
            + [inspect.Parameter(p, keyed, default=d) for p, (_, _, d) in flags.items()]
        )
        for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(body, attribute, getattr(fn, attribute))
        body.options = options  # type: ignore[attr-defined]  # what the task was bound to
        return shipyard_task(
            name=name,
            help={param: f.text for param, (_, f, _) in flags.items()},
            iterable=[param for param, (_, f, _) in flags.items() if f.iterable],
        )(body)

    return decorate
