"""The JSON schemas in docs/schema/, resolvable from that directory alone with plain `jsonschema`:
a referencing Registry holds every file under its $id, so a `$ref` between them needs no network."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "docs" / "schema"


def schemas() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(SCHEMA_DIR.glob("*.schema.json"))}


@cache
def registry() -> Registry[Any]:
    resources = [(doc["$id"], Resource.from_contents(doc)) for doc in schemas().values()]
    return Registry().with_resources(resources)


def validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for docs/schema/NAME (e.g. "datapath.schema.json")."""
    return jsonschema.Draft202012Validator(schemas()[name], registry=registry())
