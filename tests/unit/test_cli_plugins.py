"""kdiag's own reader of entry points agrees with importlib.metadata, which it stands in for."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

from kdiag.cli import plugins


def _groups_installed_here() -> set[str]:
    return {entry.group for dist in importlib.metadata.distributions() for entry in dist.entry_points}


@pytest.mark.parametrize("group", ["kdiag.commands", "console_scripts"])
def test_agrees_with_importlib_metadata_on_this_environment(group: str) -> None:
    expected = {(e.name, e.value) for e in importlib.metadata.entry_points(group=group)}
    assert expected, f"nothing installed here declares {group}"
    assert {(e.name, e.value) for e in plugins.entry_points(group)} == expected


def test_agrees_on_every_group_installed_here() -> None:
    for group in sorted(_groups_installed_here()):
        expected = {(e.name, e.value) for e in importlib.metadata.entry_points(group=group)}
        assert {(e.name, e.value) for e in plugins.entry_points(group)} == expected, group


def _distribution(root: Path, directory: str, text: str) -> None:
    (root / directory).mkdir(parents=True)
    (root / directory / "entry_points.txt").write_text(text)


def test_first_distribution_of_a_name_wins_and_names_keep_their_case(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    _distribution(first, "My_Plugin-1.0.dist-info", "[kdiag.commands]\nMesh = my_plugin.cli:app [extra]\n")
    _distribution(second, "my.plugin-2.0.dist-info", "[kdiag.commands]\nold = my_plugin.old:app\n")
    _distribution(second, "other-0.1.egg-info", "[kdiag.commands]\nmesh = other:app\n[x]\ny = z\n")
    found = plugins.entry_points("kdiag.commands", [str(first), str(second), str(tmp_path / "missing")])
    assert [(e.name, e.value) for e in found] == [
        ("Mesh", "my_plugin.cli:app [extra]"), ("mesh", "other:app")]


def test_a_damaged_entry_points_file_is_skipped(tmp_path: Path) -> None:
    _distribution(tmp_path, "bad-1.dist-info", "this is not ini\n[kdiag.commands\n")
    _distribution(tmp_path, "good-1.dist-info", "[kdiag.commands]\ngood = good:app\n")
    assert [e.name for e in plugins.entry_points("kdiag.commands", [str(tmp_path)])] == ["good"]


def test_load_resolves_module_and_dotted_attribute() -> None:
    entry = plugins.EntryPoint("x", "kdiag.cli.plugins:EntryPoint.load [extra]")
    assert entry.load() is plugins.EntryPoint.load
    assert sys.modules["kdiag.cli.plugins"] is plugins
