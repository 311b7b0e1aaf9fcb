"""`@record` classes behave as the stdlib dataclasses they replace: each case defines the same
class both ways and asserts the same construction, repr, equality, hashing, immutability,
replace/asdict/pickle results and the same kind of error for the same wrong call."""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
from collections.abc import Callable
from dataclasses import field
from typing import Any

import pytest

from shipyard.records import record


def _both(frozen: bool, kw_only: bool = False) -> tuple[type[Any], type[Any]]:
    """The same class as a stdlib dataclass and as a record."""

    def body(made: Callable[[type[Any]], type[Any]], name: str) -> type[Any]:
        def post_init(self: Any) -> None:
            if self.count < 0:
                raise ValueError("count must not be negative")

        namespace: dict[str, Any] = {
            "__annotations__": {
                "name": "str",
                "count": "int",
                "tags": "list[str]",
                "note": "str",
                "cached": "int",
            },
            "count": 0,
            "tags": field(default_factory=list),
            "note": field(default="", repr=False, compare=False),
            "cached": field(default=7, init=False),
            "__post_init__": post_init,
            "__module__": __name__,
            "__qualname__": name,
        }
        return made(type(name, (), namespace))

    plain = body(dataclasses.dataclass(frozen=frozen, kw_only=kw_only), "Thing")
    ours = body(record(frozen=frozen, kw_only=kw_only), "Thing")
    return plain, ours


CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("a",), {}),
    (("a", 2), {}),
    (("a", 2, ["x"]), {}),
    (("a",), {"tags": ["y"], "note": "n"}),
    ((), {"name": "b", "count": 3}),
]
WRONG: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),  # a required field missing
    (("a", 1, [], "", 9), {}),  # too many positional arguments
    (("a",), {"name": "b"}),  # one field given twice
    (("a",), {"cached": 1}),  # an init=False field
    (("a",), {"unknown": 1}),
]


@pytest.mark.parametrize("frozen", [True, False])
@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_a_record_is_built_shown_and_compared_as_the_dataclass(
    frozen: bool, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    plain, ours = _both(frozen)
    a, b = plain(*args, **kwargs), ours(*args, **kwargs)
    assert repr(a) == repr(b)
    assert dataclasses.asdict(a) == dataclasses.asdict(b)
    assert ours(*args, **kwargs) == b
    assert ours(*args, **{**kwargs, "note": "other"}) == b  # compare=False
    assert (ours("zzz") == b) is (plain("zzz") == a)
    assert b != a  # another class with the same values: not equal, as dataclasses
    assert ours("a").tags is not ours("a").tags  # a fresh default each
    assert dataclasses.replace(b, count=5).count == 5
    assert copy.deepcopy(b) == b


@pytest.mark.parametrize("frozen", [True, False])
@pytest.mark.parametrize(("args", "kwargs"), WRONG)
def test_a_wrong_call_raises_what_the_dataclass_raises(
    frozen: bool, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    plain, ours = _both(frozen)
    with pytest.raises(TypeError):
        plain(*args, **kwargs)
    with pytest.raises(TypeError):
        ours(*args, **kwargs)


@pytest.mark.parametrize("frozen", [True, False])
def test_post_init_runs_and_init_false_fields_get_their_default(frozen: bool) -> None:
    plain, ours = _both(frozen)
    assert ours("a").cached == plain("a").cached == 7
    with pytest.raises(ValueError, match="negative"):
        ours("a", -1)
    assert [f.name for f in dataclasses.fields(ours)] == [f.name for f in dataclasses.fields(plain)]
    assert dataclasses.is_dataclass(ours)


def test_a_frozen_record_hashes_by_value_and_cannot_change() -> None:
    plain, ours = _both(frozen=True)
    hashable_plain, hashable_ours = plain("a", 1, ()), ours("a", 1, ())
    assert hash(hashable_ours) == hash(ours("a", 1, (), note="ignored"))
    assert hash(hashable_ours) == hash(hashable_plain)  # the same fields' tuple
    with pytest.raises(TypeError):
        hash(ours("a"))  # a list field, as the dataclass
    with pytest.raises(dataclasses.FrozenInstanceError):
        hashable_ours.count = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        del hashable_ours.count
    with pytest.raises(dataclasses.FrozenInstanceError):
        hashable_ours.extra = 1  # not a field, but the record's own class: frozen too


def test_a_mutable_record_changes_and_is_not_hashable() -> None:
    plain, ours = _both(frozen=False)
    thing = ours("a")
    thing.count = 4
    assert thing == ours("a", 4)
    assert ours.__hash__ is None
    assert plain.__hash__ is None


def test_keyword_only_records_take_no_positional_argument() -> None:
    plain, ours = _both(frozen=True, kw_only=True)
    assert repr(ours(name="a", count=2)) == repr(plain(name="a", count=2))
    with pytest.raises(TypeError):
        plain("a")
    with pytest.raises(TypeError):
        ours("a")


def test_a_nan_compares_as_in_a_dataclass() -> None:
    plain, ours = _both(frozen=True)
    same = math.nan  # one object in both: equal by identity, as tuples compare
    assert (ours("a", same) == ours("a", same)) is (plain("a", same) == plain("a", same)) is True
    two = (float("nan"), float("nan"))  # two objects: never equal
    assert (ours("a", two[0]) == ours("a", two[1])) is False
    assert (plain("a", two[0]) == plain("a", two[1])) is False


def test_methods_a_class_writes_itself_are_kept() -> None:
    @record
    class Shown:
        value: int

        def __repr__(self) -> str:
            return f"<{self.value}>"

    assert repr(Shown(1)) == "<1>"
    assert Shown(1) == Shown(1)


@record
class Kept:
    name: str
    tags: tuple[str, ...] = ()


@record(frozen=False)
class Changing:
    count: int = 0


def test_records_pickle_and_come_back_equal() -> None:
    for value in (Kept("a", ("x",)), Changing(3)):
        again = pickle.loads(pickle.dumps(value))  # noqa: S301 - our own bytes
        assert again == value
        assert repr(again) == repr(value)


def test_a_record_without_a_docstring_gets_one_naming_its_fields() -> None:
    assert Changing.__doc__ == "Changing(count)"
    assert Kept.__doc__ == "Kept(name, tags)"
