"""Which commands kdiag has, loaded only when used.

Each built-in command is named here with its module and a one-sentence summary for `kdiag --help`;
its module (and whatever it imports) is loaded only when that command runs, is completed or asks
for its own help, so `kdiag pods` never pays for trace, cni or the lab. Packages installed beside
kdiag (the lab, `kdiag[lab]`) add commands through the `kdiag.commands` entry-point group, looked
up only when a name is not built in or when every command is listed.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup

from kdiag.cli import fastparams

PLUGIN_GROUP = "kdiag.commands"


@dataclass(frozen=True)
class BuiltIn:
    name: str
    module: str
    function: str
    summary: str  # one complete sentence: `kdiag --help` shows it whole


BUILT_IN = (
    BuiltIn("pods", "kdiag.cli.pods", "pods", "List pods as `kubectl get pods -o wide` does."),
    BuiltIn("nodes", "kdiag.cli.pods", "nodes", "List nodes with their IPs, pod CIDRs and pod counts."),
    BuiltIn("pairs", "kdiag.cli.pairs", "pairs", "Classify pod pairs as same-node or cross-node."),
    BuiltIn("trace", "kdiag.cli.trace", "trace", "Trace SRC -> DST and explain where the packets stop."),
    BuiltIn("policy", "kdiag.cli.policy", "policy",
            "Explain whether NetworkPolicies allow a flow, and by which rule."),
    BuiltIn("cleanup", "kdiag.cli.cleanup", "cleanup", "Delete probe pods that kdiag left behind."),
    BuiltIn("cni", "kdiag.cli.cni", "cni", "Detect the cluster's CNI and datapath, with the evidence."),
    BuiltIn("completion", "kdiag.cli.completion_cmd", "completion", "Print the shell completion script."),
)
# The order `kdiag --help` lists them in: plugins go before `completion`.
_LAST = "completion"


def _plugins() -> dict[str, Any]:
    from kdiag.cli.plugins import entry_points

    return {entry.name: entry for entry in entry_points(PLUGIN_GROUP)}


def _load_built_in(spec: BuiltIn) -> Any:
    function = getattr(importlib.import_module(spec.module), spec.function)
    single = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False, add_completion=False)
    single.command(name=spec.name, short_help=spec.summary)(function)
    return fastparams.install(typer.main.get_command(single))


class LazyCommands(MutableMapping[str, Any]):
    """The root group's command table: names known up front, commands built on first access."""

    def __init__(self) -> None:
        self._specs = {spec.name: spec for spec in BUILT_IN}
        self._loaded: dict[str, Any] = {}
        self._plugin_entries: dict[str, Any] | None = None

    def plugins(self) -> dict[str, Any]:
        if self._plugin_entries is None:
            self._plugin_entries = {n: e for n, e in _plugins().items() if n not in self._specs}
        return self._plugin_entries

    def names(self) -> list[str]:
        built_in = [name for name in self._specs if name != _LAST]
        return [*built_in, *self.plugins(), _LAST]

    def __getitem__(self, name: str) -> Any:
        if name in self._loaded:
            return self._loaded[name]
        if name in self._specs:
            command = _load_built_in(self._specs[name])
        elif name in self.plugins():
            command = fastparams.install(typer.main.get_command(self.plugins()[name].load()))
            command.name = name
        else:
            raise KeyError(name)
        self._loaded[name] = command
        return command

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._specs or name in self._loaded or name in self.plugins()

    def summary(self, name: str) -> str:
        if name in self._specs:
            return self._specs[name].summary
        command = self[name]
        return str(command.short_help or (command.help or "").strip().split("\n")[0])


class KdiagGroup(TyperGroup):
    """The root command: lazy sub-commands, and help that lists their summaries without loading them."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands()

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        table: LazyCommands = self.commands  # type: ignore[assignment]
        rows = [(name, table.summary(name)) for name in table.names()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
