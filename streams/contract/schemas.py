"""The JSON Schema contracts in ``schemas/``, loaded and compiled once.

Every topic's record has a schema file; tests check produced records against
them, and the model loader checks manifests against ``manifest.schema.json``.

>>> validator("event").is_valid({"event_id": "e1"})
False
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).resolve().parent.parent.parent / "schemas"


@cache
def schema(name: str) -> dict[str, Any]:
    """The parsed schema ``schemas/<name>.schema.json``."""
    loaded: dict[str, Any] = orjson.loads((SCHEMA_DIR / f"{name}.schema.json").read_bytes())
    return loaded


@cache
def _registry() -> Registry:
    """Every schema by its ``$id``, so schemas can ``$ref`` each other."""
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        contents = schema(path.name.removesuffix(".schema.json"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    """A compiled validator for ``schemas/<name>.schema.json``."""
    s = schema(name)
    Draft202012Validator.check_schema(s)
    return Draft202012Validator(
        s, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
