"""Types of config fields, read from the dataclass annotations (shared by the Dreamer and PPO configs).

Every field of :class:`~mamba_edu.agents.dreamer.config.DreamerConfig` and
:class:`~mamba_edu.agents.ppo.config.PPOConfig`, their own and the run-level ones they inherit from
:class:`~mamba_edu.agents.run_config.RunConfig`, is a ``bool``, ``int``, ``float``, ``str`` or
``tuple[int, ...]``. :func:`check_types` holds a config to them, whatever its values came from
(presets, ``--set``, a saved config.json): integers must be whole numbers (``1e6`` becomes
1000000, ``1.7`` is refused), numbers must be finite, a tuple of widths is a list of integers. The
valid values of each field (``>= 1``, ``in [0, 1]``, one of some strings, ...) are declared beside it
and checked by ``validate`` (:mod:`mamba_edu.agents.run_config`).
:func:`parse_text` turns the text of ``--set KEY=VALUE`` into the field's type.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import typing
from typing import Any

#: what each kind of field holds, for error messages
EXPECTED = {"bool": "true or false", "int": "an integer", "float": "a finite number", "str": "a string",
            "ints": "a list of integers (on the command line: comma-separated, e.g. 64,64)"}


@functools.lru_cache(maxsize=None)
def field_kinds(cls: type) -> dict[str, str]:
    """{field name: 'bool' | 'int' | 'float' | 'str' | 'ints'} of a config dataclass, from its annotations."""
    hints = typing.get_type_hints(cls)
    kinds = {}
    for f in dataclasses.fields(cls):
        t = hints[f.name]
        if t in (bool, int, float, str):
            kinds[f.name] = t.__name__
        elif typing.get_origin(t) is tuple and typing.get_args(t) in ((int, ...),):
            kinds[f.name] = "ints"
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: unsupported config field type {t!r}")
    return kinds


def _integer(value: Any) -> int | None:
    """``value`` as an int if it is a whole number (not a bool), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def coerce(name: str, kind: str, value: Any) -> Any:
    """``value`` held to ``kind`` (see the module docstring); ``ValueError`` naming the field otherwise."""
    out: Any = None
    if kind == "bool":
        out = value if isinstance(value, bool) else None
    elif kind == "int":
        out = _integer(value)
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out = value
    elif kind == "str":
        out = value if isinstance(value, str) else None
    elif kind == "ints":
        items = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        if isinstance(items, (list, tuple)):
            ints = [_integer(v) for v in items]
            out = tuple(ints) if all(v is not None for v in ints) else None
    if out is None:
        raise ValueError(f"config: {name} must be {EXPECTED[kind]}, got {value!r}")
    return out


def check_types(cfg: Any) -> None:
    """Hold every field of the config dataclass ``cfg`` to its annotated type, in place (whole floats
    become ints, lists of widths tuples); the first field that does not fit raises ``ValueError``."""
    for name, kind in field_kinds(type(cfg)).items():
        value = getattr(cfg, name)
        new = coerce(name, kind, value)
        if new is not value:
            object.__setattr__(cfg, name, new)


def parse_text(cls: type, name: str, text: str) -> Any:
    """The value of ``--set NAME=TEXT`` for field ``name`` of config class ``cls``, as its type (the range
    is checked later by ``validate``); ``ValueError`` naming the field and the expected type."""
    kind = field_kinds(cls)[name]
    if kind == "str":
        return text
    if kind == "bool":
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"--set {name}: expected true/false, got {text!r}")
        return text.lower() in ("true", "1")
    parts = [p.strip() for p in text.split(",")] if kind == "ints" else [text.strip()]
    values: list[Any] = []
    for part in parts:
        try:
            values.append(int(part))
        except ValueError:
            try:
                values.append(float(part))
            except ValueError:
                raise ValueError(f"--set {name}: expected {EXPECTED[kind]}, got {text!r}") from None
    if kind == "float":
        return float(values[0])
    try:
        checked = coerce(name, kind, tuple(values) if kind == "ints" else values[0])
    except ValueError:
        raise ValueError(f"--set {name}: expected {EXPECTED[kind]}, got {text!r}") from None
    return checked
