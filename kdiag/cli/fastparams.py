"""Plain coercion for plain parameters, so that parsing a command line does not import pydantic.

typer coerces every option value through a pydantic TypeAdapter, built on first use; importing
pydantic and building the adapters costs more than `kubectl get pods` takes in all. kdiag's own
options are strings, flags, lists of strings and unbounded numbers (or carry their own `parser`):
for those a direct conversion gives the same values. Anything else (ranges, paths, enums) keeps
typer's own coercion. This reaches into typer's runtime-parameter hook (`_runtime_param`), the one
place it offers; tests/cli/test_cli.py checks the hook is still there, so an upgrade that moves it
fails loudly instead of silently slowing down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from typer._coercion import RuntimeParam
from typer.core import _TyperParameter

from kdiag.errors import UsageError

HELP_OPTION_NAMES = ("-h", "--help")
_SCALARS = {str: "text", int: "integer", float: "float", bool: "boolean"}
_BOOLEANS = {"1": True, "true": True, "t": True, "yes": True, "y": True, "on": True,
             "0": False, "false": False, "f": False, "no": False, "n": False, "off": False}


@dataclass(frozen=True)
class PlainRuntimeParam(RuntimeParam):
    """str, int, float (no min/max) or a list of them; a `parser=` when the option gives one."""

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [self._one(item, param, ctx) for item in value]
        return self._one(value, param, ctx)

    def _one(self, value: Any, param: Any, ctx: Any) -> Any:
        import typer

        parser = self.parameter_info.parser
        if parser is not None:
            return parser(value)
        kind = _leaf(self.annotation)
        if kind is str:
            return value if isinstance(value, str) else str(value)
        if kind is bool:
            if isinstance(value, bool):
                return value
            value = _BOOLEANS.get(str(value).strip().lower(), value)
            if isinstance(value, bool):
                return value
            raise typer.BadParameter(f"{value!r} is not a valid boolean.", ctx=ctx, param=param)
        if isinstance(value, kind) and not isinstance(value, bool):
            return value
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise typer.BadParameter(f"{value!r} is not a valid {_SCALARS[kind]}.", ctx=ctx,
                                     param=param) from None


def _leaf(annotation: Any) -> Any:
    args = getattr(annotation, "__args__", None)
    if getattr(annotation, "__origin__", None) is list and args and len(args) == 1:
        return args[0]
    return annotation


def _plain(param: Any) -> bool:
    info = param.type_descriptor.parameter_info
    if info.parser is not None:
        return True
    if info.min is not None or info.max is not None:
        return False
    return _leaf(param.type_descriptor.annotation) in _SCALARS


def install(command: Any, *, recurse: bool = True) -> Any:
    """Give every plain parameter of `command` (and of its sub-commands) the plain coercion."""
    if getattr(command, "_help_option", False) is None and command.add_help_option:
        # The -h/--help flag is made on first parse otherwise, with typer's own coercion.
        from typer._click.decorators import help_option

        help_option(list(HELP_OPTION_NAMES))(command)
        command._help_option = command.params.pop()
    for param in [*getattr(command, "params", ()), getattr(command, "_help_option", None)]:
        if isinstance(param, _TyperParameter) and param._runtime_param is None and _plain(param):
            descriptor = param.type_descriptor
            param._runtime_param = PlainRuntimeParam(
                parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
    for sub in (getattr(command, "commands", None) or {}).values() if recurse else ():
        install(sub)
    return command


def check_hook() -> None:
    """What install() relies on; raises if a typer upgrade took it away."""
    if not hasattr(_TyperParameter, "get_runtime_param") or not hasattr(RuntimeParam, "_coerce_value"):
        raise UsageError("typer's runtime-parameter hook changed: update kdiag.cli.fastparams")
