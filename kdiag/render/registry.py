"""Renderers, registered by name; `-o` choices come from here.

A command describes its result once as a `View`: the machine-readable document (built lazily,
since a 10,000-pod JSON document is wasted work for a table) and any named tables or text views.
Document formats (json, yaml, name) are generic renderers registered below; a command's table
views (wide, net, ...) and text views are rendered by `table` / `text`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

Document = dict[str, Any]
DocumentRenderer = Callable[[Document, IO[str]], None]


@dataclass(frozen=True)
class View:
    document: Callable[[], Document]
    # name -> function returning the full text to print (a table, or an explanation)
    texts: Mapping[str, Callable[[], str]] = field(default_factory=dict)


def _json(document: Document, out: IO[str]) -> None:
    out.write(json.dumps(document, indent=2, ensure_ascii=False))
    out.write("\n")


def _yaml(document: Document, out: IO[str]) -> None:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    yaml.dump(document, out, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _singular(kind: str) -> str:
    return kind.removesuffix("List").lower()


def _name(document: Document, out: IO[str]) -> None:
    """kubectl's `-o name`: kind/name per item."""
    resource = _singular(document.get("kind", ""))
    for item in document.get("items", []):
        out.write(f"{resource}/{item['name']}\n")


DOCUMENT_RENDERERS: Mapping[str, DocumentRenderer] = {"json": _json, "yaml": _yaml, "name": _name}


def choices(view_names: tuple[str, ...], *, with_name: bool = True) -> tuple[str, ...]:
    """The -o choices of a command: its own views first, then the document formats."""
    documents = tuple(n for n in DOCUMENT_RENDERERS if with_name or n != "name")
    return view_names + documents


def render(view: View, output: str, out: IO[str]) -> None:
    if output in view.texts:
        text = view.texts[output]()
        if text:
            out.write(text if text.endswith("\n") else text + "\n")
        return
    DOCUMENT_RENDERERS[output](view.document(), out)
