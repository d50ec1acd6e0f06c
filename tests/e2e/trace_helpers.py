"""Shared helpers for the `kdiag trace` lab tests: run a trace, validate its JSON, read findings."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from tests.conftest import CliResult
from tests.schemas import validator

DOCS = Path(__file__).resolve().parents[2] / "docs"
HELLO_1 = "hello-app-1-675b9f655c-8r76c"  # 10.244.1.6 worker24, :8080
HELLO_2 = "hello-app-2-787d8656bb-dfl8c"  # 10.244.1.7 worker24, :8080
MARIADB = "helm-wp-mariadb-0"  # 10.244.1.3 worker24, :3306
WORDPRESS = "helm-wp-wordpress-57b6df6549-drbbk"  # 10.244.2.3 worker25, :80
PROBE_LABEL = "app.kubernetes.io/managed-by=kdiag"


@cache
def trace_validator() -> jsonschema.Draft202012Validator:
    # Every schema of docs/schema in one registry: the trace refers to probe-result and policyverdict.
    schema = json.loads((DOCS / "schema" / "trace.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return validator("trace.schema.json")


def trace(lab: Any, *args: str, context: str | None = None) -> tuple[CliResult, dict[str, Any]]:
    """`kdiag trace ARGS -o json` in-process; the document is validated against the schema."""
    result = lab.kdiag("trace", *args, "-o", "json", context=context)
    doc: dict[str, Any] = json.loads(result.stdout) if result.stdout.strip() else {}
    if doc:
        trace_validator().validate(doc)
    return result, doc


def codes(doc: dict[str, Any]) -> list[str]:
    return [f["code"] for f in doc["verdict"]["findings"]]


def finding(doc: dict[str, Any], code: str) -> dict[str, Any]:
    found = [f for f in doc["verdict"]["findings"] if f["code"] == code]
    assert found, f"no {code} in {codes(doc)}: {json.dumps(doc['verdict'], indent=1)}"
    return found[0]


def probe_pods(lab: Any) -> list[str]:
    out = lab.kubectl("get", "pods", "-A", "-l", PROBE_LABEL, "-o", "name").stdout
    return out.split()
