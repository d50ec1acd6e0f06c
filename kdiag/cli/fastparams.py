"""Plain coercion for plain parameters, so that parsing a command line does not import pydantic.

typer coerces every option value through a pydantic TypeAdapter, built on first use; importing
pydantic and building the adapters costs more than `kubectl get pods` takes in all. kdiag's own
options are strings, flags, lists of strings and numbers with bounds (or carry their own `parser`):
for those a direct conversion gives the same values. Anything else (clamped ranges, paths, enums) keeps
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
    """str, int, float (bounded by min/max, not clamped), bool or a list of them; a `parser=` when
    the option gives one."""

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
        try:
            number = value if isinstance(value, kind) and not isinstance(value, bool) else kind(value)
        except (TypeError, ValueError):
            raise typer.BadParameter(f"{value!r} is not a valid {_SCALARS[kind]}.", ctx=ctx,
                                     param=param) from None
        info = self.parameter_info
        # typer's own wording (pydantic's), so the message does not change with the fast path.
        if info.min is not None and number < info.min:
            raise typer.BadParameter(f"Input should be greater than or equal to {info.min}",
                                     ctx=ctx, param=param)
        if info.max is not None and number > info.max:
            raise typer.BadParameter(f"Input should be less than or equal to {info.max}",
                                     ctx=ctx, param=param)
        return number


def _leaf(annotation: Any) -> Any:
    args = getattr(annotation, "__args__", None)
    if getattr(annotation, "__origin__", None) is list and args and len(args) == 1:
        return args[0]
    return annotation


def _plain(param: Any) -> bool:
    info = param.type_descriptor.parameter_info
    if info.parser is not None:
        return True
    if getattr(info, "clamp", False):
        return False
    return _leaf(param.type_descriptor.annotation) in _SCALARS


def _complete_choices(choices: list[str]) -> Any:
    return lambda _ctx, _param, incomplete: [c for c in choices if c.startswith(incomplete)]


def _metavar_choices(param: Any) -> list[str]:
    """Choices an option spells in its metavar, `auto|raw|unprivileged` (as kubectl's help does)."""
    metavar = getattr(param, "metavar", None) or ""
    if "|" not in metavar or any(c in metavar for c in " <>[]{}"):
        return []
    return [choice for choice in metavar.split("|") if choice]


def install(command: Any, *, recurse: bool = True) -> Any:
    """Give every plain parameter of `command` (and of its sub-commands) the plain coercion, and
    completion of the choices an option's metavar lists (`--engine auto|raw|unprivileged`)."""
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
        choices = _metavar_choices(param)
        if choices and getattr(param, "_custom_shell_complete", False) is None:
            param._custom_shell_complete = _complete_choices(choices)
    for sub in (getattr(command, "commands", None) or {}).values() if recurse else ():
        install(sub)
    return command


def check_hook() -> None:
    """What install() relies on; raises if a typer upgrade took it away."""
    if not hasattr(_TyperParameter, "get_runtime_param") or not hasattr(RuntimeParam, "_coerce_value"):
        raise UsageError("typer's runtime-parameter hook changed: update kdiag.cli.fastparams")
