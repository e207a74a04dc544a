"""The JSON Schema contracts in schemas/ are valid and agree with the code's contract."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from streams.contract.events import FIELDS, REQUIRED
from streams.contract.schemas import SCHEMA_DIR, schema


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.schema.json")), ids=lambda p: p.name)
def test_every_schema_is_valid_draft_2020_12(path) -> None:  # type: ignore[no-untyped-def]
    Draft202012Validator.check_schema(schema(path.name.removesuffix(".schema.json")))


def test_event_schema_matches_events_module() -> None:
    s = schema("event")
    assert set(s["required"]) == REQUIRED
    assert list(s["properties"]) == list(FIELDS)
    assert s["additionalProperties"] is True  # unknown extra fields are allowed
    json_type = {
        "string": "string",
        "category": "string",
        "integer": "integer",
        "number": "number",
        "boolean": "boolean",
    }
    for name, spec in FIELDS.items():
        prop = s["properties"][name]
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        assert json_type[spec.kind] in types, name
        assert ("null" in types) == (not spec.required), name
        assert prop.get("minimum") == spec.minimum, name
        assert prop.get("maximum") == spec.maximum, name
