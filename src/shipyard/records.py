"""`@record`: a dataclass whose methods are made from closures instead of compiled source.

`dataclasses.dataclass` writes each class's `__init__`, `__repr__`, `__eq__`, `__hash__` and,
when frozen, `__setattr__`/`__delattr__` as source text and compiles it: about a millisecond a
class, and a command that imports a target defines sixty of them before doing anything (most of
`inv status`'s own start-up). `record` lets dataclasses read the fields (so `fields`, `replace`,
`asdict`, pickling and pydantic see a dataclass) and adds the same methods, with the same
meaning, as closures over the field lists: building those costs microseconds.

Supported: positional and keyword-only fields, `default` and `default_factory`, `init=False`,
`repr=False`, `compare=False`, `hash=`, `__post_init__`, and methods a class writes itself (they
are kept, as dataclasses keeps them). Not supported, since nothing here uses them: `InitVar`,
`order`, `slots`, `unsafe_hash`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import MISSING, Field, FrozenInstanceError, dataclass, field, fields
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")
Spec = tuple[str, Any, Any]  # a field's name, default and default_factory


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, frozen: bool = True, kw_only: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(
    cls: type[T] | None = None, /, *, frozen: bool = True, kw_only: bool = False
) -> type[T] | Callable[[type[T]], type[T]]:
    """`@record` is `@dataclass(frozen=True)`; `@record(frozen=False)` is `@dataclass`;
    `kw_only=True` as dataclasses has it."""

    def make(cls: type[T]) -> type[T]:
        if not cls.__doc__:
            # dataclasses would write one from inspect.signature: slower than all the rest
            cls.__doc__ = generated_doc(cls)
        dataclass(cls, init=False, repr=False, eq=False, kw_only=kw_only)
        _add_methods(cls, fields(cls), frozen)  # type: ignore[arg-type]
        return cls

    return make if cls is None else make(cls)


def generated_doc(cls: type[Any]) -> str:
    """The docstring a record without one gets: its name and its fields' names."""
    return f"{cls.__name__}({', '.join(inspect.get_annotations(cls))})"


def _add_methods(cls: type, found: tuple[Field[Any], ...], frozen: bool) -> None:
    own = cls.__dict__
    methods: dict[str, Any] = {
        "__init__": _init(cls, found),
        "__repr__": _repr(tuple(f.name for f in found if f.repr)),
        "__eq__": _eq(tuple(f.name for f in found if f.compare)),
    }
    if frozen:
        hashed = tuple(f.name for f in found if (f.compare if f.hash is None else f.hash))
        methods["__hash__"] = _hash(hashed)
        methods.update(_frozen(cls, frozenset(f.name for f in found)))
    else:
        methods["__hash__"] = None  # mutable and compared by value: unhashable, as dataclasses
    for name, method in methods.items():
        # Python sets `__hash__ = None` itself in a class that writes only __eq__: not its own
        written = name in own and not (name == "__hash__" and own[name] is None)
        if not written:
            if callable(method):
                method.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, method)


def _init(cls: type, found: tuple[Field[Any], ...]) -> Callable[..., None]:
    qualname = cls.__qualname__
    given: tuple[Spec, ...] = tuple((f.name, f.default, f.default_factory) for f in found if f.init)
    fixed: tuple[Spec, ...] = tuple(
        (f.name, f.default, f.default_factory) for f in found if not f.init
    )
    positional = tuple(f.name for f in found if f.init and not f.kw_only)
    post_init = getattr(cls, "__post_init__", None)
    put = object.__setattr__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if args:
            if len(args) > len(positional):
                raise TypeError(
                    f"{qualname}() takes {len(positional)} positional arguments "
                    f"but {len(args)} were given"
                )
            for name, value in zip(positional, args, strict=False):
                if name in kwargs:
                    raise TypeError(f"{qualname}() got multiple values for argument {name!r}")
                kwargs[name] = value
        for name, default, factory in given:
            if name in kwargs:
                put(self, name, kwargs.pop(name))
            elif default is not MISSING:
                put(self, name, default)
            elif factory is not MISSING:
                put(self, name, factory())
            else:
                raise TypeError(f"{qualname}() missing required argument {name!r}")
        if kwargs:
            raise TypeError(f"{qualname}() got an unexpected keyword {next(iter(kwargs))!r}")
        for name, default, factory in fixed:
            if default is not MISSING:
                put(self, name, default)
            elif factory is not MISSING:
                put(self, name, factory())
        if post_init is not None:
            self.__post_init__()

    return __init__


def _repr(names: tuple[str, ...]) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__qualname__}({shown})"

    return __repr__


def _eq(names: tuple[str, ...]) -> Callable[[Any, object], bool]:
    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        # tuples, as dataclasses compares: the same object is equal to itself (a NaN too)
        return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)

    return __eq__


def _hash(names: tuple[str, ...]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(tuple(getattr(self, n) for n in names))

    return __hash__


def _frozen(cls: type[Any], names: frozenset[str]) -> dict[str, Callable[..., None]]:
    """A frozen dataclass's guards: its fields, and any attribute of the class itself (not of
    a subclass that is no dataclass), cannot be set or deleted."""

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    return {"__setattr__": __setattr__, "__delattr__": __delattr__}
