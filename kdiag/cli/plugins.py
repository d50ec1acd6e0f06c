"""Commands that packages installed beside kdiag add, through the `kdiag.commands` entry points.

This reads the entry-point files of the installed distributions itself, as the packaging
specification defines them (an INI file, `entry_points.txt`, in each `*.dist-info` or `*.egg-info`
directory on sys.path; the first distribution of a name wins), instead of through
importlib.metadata: importing that module pulls in the email package and costs ~50 ms, a third of
the budget for `kdiag --help`, which has to list every command.
"""

from __future__ import annotations

import configparser
import importlib
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

_METADATA_SUFFIXES = (".dist-info", ".egg-info")


@dataclass(frozen=True)
class EntryPoint:
    name: str
    value: str  # "module:attribute[.attribute...] [extras]"

    def load(self) -> Any:
        module_name, _, attributes = self.value.split("[")[0].strip().partition(":")
        target: Any = importlib.import_module(module_name.strip())
        for attribute in filter(None, attributes.strip().split(".")):
            target = getattr(target, attribute)
        return target


def _normalized(distribution_dir: str) -> str:
    """The distribution's name from `NAME-VERSION.dist-info`, normalized as PEP 503 does."""
    stem = distribution_dir.rsplit(".", 1)[0].split("-", 1)[0]
    return re.sub(r"[-_.]+", "_", stem).lower()


def _metadata_dirs(search_path: Iterable[str]) -> Iterator[str]:
    seen: set[str] = set()
    for entry in search_path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:  # not a directory (a zip, a missing path): no installed distributions there
            continue
        for name in names:
            if name.endswith(_METADATA_SUFFIXES) and (key := _normalized(name)) not in seen:
                seen.add(key)
                yield os.path.join(entry or ".", name)


def entry_points(group: str, search_path: Iterable[str] | None = None) -> list[EntryPoint]:
    """The entry points of GROUP across installed distributions, by name (the first of a name wins)."""
    found: dict[str, EntryPoint] = {}
    for directory in _metadata_dirs(sys.path if search_path is None else search_path):
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # names are case-sensitive
        try:
            parser.read(os.path.join(directory, "entry_points.txt"), encoding="utf-8")
        except (OSError, configparser.Error):
            continue  # a damaged file is that package's problem, not a reason for kdiag to fail
        if parser.has_section(group):
            for name, value in parser.items(group):
                found.setdefault(name, EntryPoint(name, value))
    return sorted(found.values(), key=lambda entry: entry.name)
