"""Machine output on the lab validates against docs/schema/, resolved from the files alone."""

from __future__ import annotations

import pytest

from tests.conftest import Lab
from tests.schemas import validator


@pytest.mark.parametrize(("args", "schema"), [
    (("cni",), "datapath.schema.json"),
    (("pods", "-A"), "podlist.schema.json"),
    (("nodes",), "nodelist.schema.json"),
    (("pairs", "-A", "--list"), "pairlist.schema.json"),
])
def test_json_output_validates(lab: Lab, args: tuple[str, ...], schema: str) -> None:
    result = lab.kdiag(*args, "-o", "json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    validator(schema).validate(document)
    assert document["apiVersion"] == "kdiag/v1"
