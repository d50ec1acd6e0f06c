"""Every schema in docs/schema/ is valid, carries the id its location gives it, and every $ref in
it resolves from docs/schema/ alone (plain `jsonschema` with a Registry built from the files)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from tests.schemas import SCHEMA_DIR, registry, schemas

BASE = "https://kdiag.dev/schema/v1/"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_json_schema_of_the_docs_is_in_docs_schema() -> None:
    outside = [p for p in SCHEMA_DIR.parent.rglob("*.schema.json") if p.parent != SCHEMA_DIR]
    assert outside == []
    assert {"datapath.schema.json", "probe-result.schema.json", "trace.schema.json"} <= set(schemas())


@pytest.mark.parametrize("name", sorted(schemas()))
def test_schema_is_valid_and_every_ref_resolves(name: str) -> None:
    schema = schemas()[name]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == BASE + name
    resolver = registry().resolver(base_uri=schema["$id"])
    for ref in set(_refs(schema)):
        resolver.lookup(ref)  # raises when the target is not in docs/schema/


def test_datapath_schema_matches_the_trace_datapath() -> None:
    """`kdiag cni -o json` and a Trace's `datapath` are one object: the two definitions stay equal."""
    assert schemas()["datapath.schema.json"]["$defs"]["datapath"] == schemas()["trace.schema.json"]["$defs"][
        "datapath"]
