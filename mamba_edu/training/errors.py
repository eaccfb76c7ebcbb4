"""Why training stopped or could not start, and the non-finite guard shared by every learner.

* :class:`TrainingError` — a run cannot start or continue as asked (bad run folder, budget,
  resume of a folder without a checkpoint); the CLI prints one ``error:`` line, exit code 2;
* :class:`RunFolderBusyError` — another live process owns the run (or sweep) folder;
* :class:`NonFiniteError` — a loss, a gradient norm or a parameter became NaN or infinite:
  training stops before the value can reach a checkpoint, so the latest checkpoint on disk is the
  last good one; the CLI prints one ``error:`` line, exit code 1 (the run failed, the input was fine).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:   # torch is imported where it is used: the sweep driver imports this module without it
    import torch


class TrainingError(RuntimeError):
    pass


class RunFolderBusyError(TrainingError):
    """The folder's lock is held by another live process (``pid``: its process id, None if unknown)."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class NonFiniteError(RuntimeError):
    """A loss, gradient norm or parameter became NaN or infinite; training stops and the last good
    checkpoint stays the latest one."""


#: the name this error had when only losses were checked (kept for code that catches it)
NonFiniteLossError = NonFiniteError


def check_finite(what: str, value: torch.Tensor, at: str) -> None:
    """Raise :class:`NonFiniteError` naming ``what`` (e.g. ``loss 'actor'``) and ``at`` (e.g. ``update
    12``) unless every element of ``value`` is finite."""
    import torch

    if not bool(torch.isfinite(value).all()):
        shown = f"{value.item()}" if value.numel() == 1 else f"{int((~torch.isfinite(value)).sum())} values"
        raise NonFiniteError(f"non-finite {what} ({shown}) at {at}; training stopped")


def check_modules_finite(modules: dict[str, torch.nn.Module], at: str) -> None:
    """Raise :class:`NonFiniteError` naming the first parameter or buffer of ``modules`` ({name: module})
    that holds a NaN or infinite value. One device synchronisation per module."""
    import torch

    for prefix, module in modules.items():
        tensors = [(n, t) for n, t in module.state_dict(keep_vars=True).items()
                   if torch.is_tensor(t) and torch.is_floating_point(t)]
        if not tensors:
            continue
        ok = torch.stack([torch.isfinite(t.detach()).all() for _, t in tensors])
        if bool(ok.all()):
            continue
        name, t = tensors[int((~ok).nonzero()[0, 0])]
        bad = int((~torch.isfinite(t.detach())).sum())
        raise NonFiniteError(f"non-finite parameter '{prefix}.{name}' ({bad} of {t.numel()} values NaN or "
                             f"infinite) at {at}; training stopped")
