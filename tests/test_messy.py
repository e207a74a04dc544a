"""Messy-input corruption: each kind keeps or breaks the contract exactly as it says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from helpers import FULL_EVENT
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from streams.contract.events import FIELDS, OPTIONAL, REQUIRED
from streams.dev.messy import MESSY_KINDS, UNKNOWN_LEVELS, MessySpec, corrupt, expected_valid

SCHEMA = orjson.loads((Path(__file__).parent.parent / "schemas/event.schema.json").read_bytes())
VALIDATOR = Draft202012Validator(SCHEMA)
UNPARSEABLE = {"malformed_json", "not_utf8", "empty_payload"}

CLEAN = FULL_EVENT


def test_clean_example_is_valid_and_complete() -> None:
    assert set(CLEAN) == set(FIELDS)
    assert VALIDATOR.is_valid(CLEAN)


def test_kind_names_are_the_published_ones() -> None:
    assert MESSY_KINDS == (
        "missing_optional",
        "null_optional",
        "unknown_category",
        "missing_required",
        "null_required",
        "wrong_type",
        "out_of_range",
        "malformed_json",
        "not_utf8",
        "empty_payload",
    )
    assert [k for k in MESSY_KINDS if expected_valid(k)] == list(MESSY_KINDS[:3])
    assert expected_valid(None)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(MESSY_KINDS),
    seed=st.integers(0, 2**32 - 1),
    drop=st.sets(st.sampled_from(OPTIONAL)),
)
def test_corruption_matches_expected_validity(kind: str, seed: int, drop: set[str]) -> None:
    event = {k: v for k, v in CLEAN.items() if k not in drop}  # clean, maybe sparse, event
    before = dict(event)
    value = corrupt(event, kind, np.random.default_rng(seed))
    assert event == before, "corrupt must not modify its input"
    if kind in UNPARSEABLE:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(value)
        return
    assert VALIDATOR.is_valid(orjson.loads(value)) is expected_valid(kind)


@pytest.mark.parametrize("seed", range(30))
def test_missing_optional_drops_one_to_three_optional_fields(seed: int) -> None:
    out = orjson.loads(corrupt(CLEAN, "missing_optional", np.random.default_rng(seed)))
    gone = set(CLEAN) - set(out)
    assert 1 <= len(gone) <= 3
    assert not gone & REQUIRED


@pytest.mark.parametrize("seed", range(30))
def test_unknown_category_is_outside_the_contract_levels(seed: int) -> None:
    out = orjson.loads(corrupt(CLEAN, "unknown_category", np.random.default_rng(seed)))
    changed = [k for k in UNKNOWN_LEVELS if out[k] != CLEAN[k]]
    assert len(changed) == 1
    assert out[changed[0]] not in FIELDS[changed[0]].levels


def test_not_utf8_has_an_invalid_utf8_sequence() -> None:
    for seed in range(20):
        value = corrupt(CLEAN, "not_utf8", np.random.default_rng(seed))
        with pytest.raises(UnicodeDecodeError):
            value.decode("utf-8")


def test_spec_validation_and_weights() -> None:
    assert MessySpec(0.1).probabilities() == pytest.approx(np.full(10, 0.1))
    spec = MessySpec(0.2, kinds=("empty_payload", "wrong_type"), weights=(1.0, 3.0))
    assert spec.probabilities() == pytest.approx([0.25, 0.75])
    with pytest.raises(ValueError):
        MessySpec(1.5)
    with pytest.raises(ValueError):
        MessySpec(0.1, kinds=("bogus",))
    with pytest.raises(ValueError):
        MessySpec(0.1, kinds=("empty_payload",), weights=(1.0, 2.0))
    with pytest.raises(ValueError):
        MessySpec(0.1, kinds=())
