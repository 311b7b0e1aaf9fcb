"""Config sections compare, hash and print as the dataclasses they are (Section writes those
methods once instead of having each section generate its own): equal values are equal and hash
alike, another class or value is not equal, the repr names every field, a section is frozen."""

from __future__ import annotations

import dataclasses

import pytest

from shipyard.config.base import SecretRef, SecretsConfig, config_section
from shipyard.config.model import HttpCheck, ShipyardConfig, TagsConfig


def test_equal_values_are_equal_and_hash_alike_and_others_are_not() -> None:
    a, b = SecretRef(env="TOKEN"), SecretRef(env="TOKEN")
    assert a == b
    assert hash(a) == hash(b)
    assert a != SecretRef(env="OTHER")
    assert a != SecretRef(file="TOKEN")
    assert {a: 1}[b] == 1
    assert (a == "TOKEN") is False  # another type: NotImplemented, then identity
    assert ShipyardConfig(environment="x") == ShipyardConfig(environment="x")
    assert ShipyardConfig(environment="x") != ShipyardConfig(environment="y")


def test_sections_of_another_class_with_the_same_values_are_not_equal() -> None:
    @config_section
    class OtherRef(SecretRef):
        pass

    assert SecretRef(env="TOKEN") != OtherRef(env="TOKEN")


def test_the_repr_names_every_field_in_order() -> None:
    assert repr(SecretRef(env="TOKEN")) == (
        "SecretRef(env='TOKEN', ssm=None, secretsmanager=None, file=None)"
    )
    assert repr(TagsConfig(templates=["{version}"], latest=True)) == (
        "TagsConfig(templates=['{version}'], latest=True)"
    )
    assert repr(SecretsConfig(file_roots=[])).startswith("SecretsConfig(file_roots=[], ")


def test_a_section_is_frozen_and_a_list_valued_one_is_not_hashable() -> None:
    ref = SecretRef(env="TOKEN")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.env = "OTHER"  # type: ignore[misc]
    with pytest.raises(TypeError):
        hash(TagsConfig())  # a list field, as with a generated __hash__
    assert HttpCheck(path="/health") == HttpCheck(path="/health")


def test_a_section_is_built_by_keyword_with_its_defaults_and_its_own_rule() -> None:
    ref = SecretRef(file="deploy/token")
    assert (ref.env, ref.ssm, ref.file) == (None, None, "deploy/token")
    first, second = SecretsConfig(), SecretsConfig()
    assert first.credential_file_roots == ["/var/lib/shipyard"]
    assert first.file_roots is not second.file_roots  # a factory's value is each one's own
    with pytest.raises(ValueError, match="exactly one of env, ssm"):
        SecretRef(env="A", ssm="B")  # __post_init__ runs on direct construction too
    with pytest.raises(TypeError, match="unexpected keyword 'nope'"):
        SecretRef(env="A", nope=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="missing required argument 'environment'"):
        ShipyardConfig()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        SecretRef("TOKEN")  # type: ignore[misc]  # keyword-only


def test_a_section_cannot_lose_a_field_and_replace_builds_a_new_one() -> None:
    ref = SecretRef(env="TOKEN")
    with pytest.raises(dataclasses.FrozenInstanceError):
        del ref.env
    changed = dataclasses.replace(ref, env="OTHER")
    assert (changed.env, ref.env) == ("OTHER", "TOKEN")
    assert dataclasses.is_dataclass(ref)
    assert [f.name for f in dataclasses.fields(ref)] == ["env", "ssm", "secretsmanager", "file"]
