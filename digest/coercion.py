"""Command-line values coerced without pydantic, for a cold start a tenth shorter.

typer 0.29 coerces each option's value through a pydantic `TypeAdapter`, built when the option is
first used: importing pydantic and building the adapters costs about 100 ms of a `digest build`
(measured in bench/README.md). Our options are parsed by our own parser, or are paths, strings,
whole numbers or flags: for those, typer's own helpers do the same work without
pydantic, and so are choices of a StrEnum. Any other option keeps typer's coercion.

This leans on typer's internals (`typer._coercion`, the parameter's `_runtime_param`). If a typer
release changes them, `plain_coercion` does nothing, the commands work as before, and
tests/test_imports.py fails because pydantic is imported again: then adapt this module, or delete
it and its call in cli.py.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

try:
    from typer._click.exceptions import BadParameter
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_path, routes_to_path
except ImportError:  # another typer: its own coercion applies
    KNOWN_TYPER = False
else:
    KNOWN_TYPER = True


def plain_coercion(params: list[Any]) -> None:
    """Give the flags, parsed, path and string options of `params` (a command's, with its --help)
    a coercion that needs no pydantic."""
    if not KNOWN_TYPER:
        return
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", False) is not None:
            continue  # not typer's parameter as we know it, or coercion already chosen
        try:
            param._runtime_param = _coercion(descriptor.parameter_info, descriptor.annotation)
        except (AttributeError, TypeError):  # typer's internals changed: its own coercion
            return


def _coercion(info: Any, annotation: Any) -> Any:
    """Ours for the option, or None for typer's."""
    if annotation is bool:
        return _Flag(parameter_info=info, annotation=annotation)
    if annotation is int:
        return _Whole(parameter_info=info, annotation=annotation)
    if info.parser is not None:
        return _Parsed(parameter_info=info, annotation=annotation)
    if annotation is str:
        return _Text(parameter_info=info, annotation=annotation)
    if annotation is Path and info.path_type is None and routes_to_path(annotation, info):
        return _PathValue(parameter_info=info, annotation=annotation)
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return _Choice(parameter_info=info, annotation=annotation)
    return None


if KNOWN_TYPER:
    class _Flag(RuntimeParam):
        """A flag's value is already a bool (or None): typer's coercion for anything else."""

        def _coerce_value(self, value, param, ctx):
            if isinstance(value, bool):
                return value
            return build_runtime_param(param.type_descriptor)._coerce_value(value, param, ctx)

    class _Whole(RuntimeParam):
        """A whole number within the option's `min` and `max`."""

        def _coerce_value(self, value, param, ctx):
            if value is None:
                return None
            try:
                number = int(value)
            except (TypeError, ValueError):
                raise BadParameter(f"{value!r} is not a whole number", ctx, param) from None
            low, high = self.parameter_info.min, self.parameter_info.max
            if (low is not None and number < low) or (high is not None and number > high):
                limits = " and ".join(f"{word} {limit}" for word, limit in
                                      (("at least", low), ("at most", high)) if limit is not None)
                raise BadParameter(f"{number} is out of range: {limits}", ctx, param)
            return number

    class _Parsed(RuntimeParam):
        """The option's own parser, as typer's adapter calls it (its errors pass through)."""

        def _coerce_value(self, value, param, ctx):
            return self.parameter_info.parser(value)

    class _Text(RuntimeParam):
        def _coerce_value(self, value, param, ctx):
            return value if isinstance(value, str) else str(value)

    class _Choice(RuntimeParam):
        """One of a StrEnum's values (`--backend`), as typer's coercion checks it."""

        def _coerce_value(self, value, param, ctx):
            if value is None or isinstance(value, self.annotation):
                return value
            try:
                return self.annotation(value)
            except ValueError:
                choices = ", ".join(repr(choice.value) for choice in self.annotation)
                raise BadParameter(f"{value!r} is not one of {choices}.", ctx, param) from None

    class _PathValue(RuntimeParam):
        """A `Path`, with typer's checks (exists, file_okay, dir_okay...)."""

        def _coerce_value(self, value, param, ctx):
            return coerce_cli_path(value if isinstance(value, Path) else Path(value),
                                   self.parameter_info, path_type=Path, param=param, ctx=ctx)
