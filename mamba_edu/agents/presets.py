"""Stacking named presets onto a config dataclass (shared by the Dreamer and PPO configs).

A preset or an override is a dict of field values; every key must name a field of the config,
or the error names the source (``preset cpu``, ``override``, ...) and the valid fields.
"""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from mamba_edu.quick import with_quick  # the one reader of MAMBA_EDU_QUICK; re-exported for its callers

C = TypeVar("C")


def apply_fields(cfg: C, values: dict[str, Any], source: str) -> C:
    """``cfg`` with ``values`` replaced; unknown keys raise ``ValueError`` naming ``source``."""
    names = {f.name for f in dataclasses.fields(cfg)}
    for key in values:
        if key not in names:
            raise ValueError(f"{source}: unknown config field {key!r}; valid fields: {', '.join(sorted(names))}")
    return dataclasses.replace(cfg, **values)


__all__ = ["apply_fields", "with_quick"]
