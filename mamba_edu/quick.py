"""Quick mode: ``MAMBA_EDU_QUICK=1`` shrinks budgets (fewer steps, tasks, smaller models), never code paths.

This module is the only place that reads the variable; everything else asks :func:`quick_mode`.
CI, the tests, the notebooks and the demo use it to run the same code as a full run in seconds.

What shrinks, and where it is written down:

* a training run's configuration: :func:`with_quick` adds the ``quick`` preset, whose values are
  each algorithm family's ``EXTRA_PRESETS["quick"]`` (:mod:`mamba_edu.agents.dreamer.config`,
  :mod:`mamba_edu.agents.ppo.config`), so a run records ``quick`` among its presets and reloads
  the same without the variable set;
* any other budget (the demo's task counts and steps, an exercise's sizes): :func:`quick_budget`
  picks the quick value beside the full one at the call site.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TypeVar

#: the environment variable; ``"1"`` turns quick mode on (any other value, or unset: off)
QUICK_ENV = "MAMBA_EDU_QUICK"
#: the preset that quick mode stacks on a run's configuration
QUICK_PRESET = "quick"

T = TypeVar("T")


def quick_mode() -> bool:
    """True when ``MAMBA_EDU_QUICK=1``: use the small budgets."""
    return os.environ.get(QUICK_ENV) == "1"


def quick_budget(full: T, quick: T) -> T:
    """``quick`` in quick mode, else ``full`` (a budget only: both must run the same code)."""
    return quick if quick_mode() else full


def with_quick(presets: list[str] | tuple[str, ...] | None) -> list[str]:
    """The extra presets to stack: ``presets`` plus ``quick`` (at the end) in quick mode."""
    presets = list(presets or [])
    if quick_mode() and QUICK_PRESET not in presets:
        presets.append(QUICK_PRESET)
    return presets


@contextlib.contextmanager
def without_quick_mode() -> Iterator[None]:
    """Quick mode off inside the block (a saved run is rebuilt from what it recorded, not from the
    variable); the variable is restored afterwards."""
    saved = os.environ.pop(QUICK_ENV, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[QUICK_ENV] = saved


__all__ = ["QUICK_ENV", "QUICK_PRESET", "quick_budget", "quick_mode", "with_quick", "without_quick_mode"]
