"""What a student reads when a case fails: the :class:`Fail` exception and the comparisons that raise it.

A case passes by returning and fails by raising :class:`Fail` with an "expected … got …"
message (and optionally a hint). :func:`fmt` renders numbers, arrays and tensors on one line;
:func:`expect_close` compares shapes and values and names the first entry that differs.
"""
from __future__ import annotations

from typing import Any

import numpy as np


class Fail(Exception):
    """A case failed; ``str(self)`` is the feedback shown to the student."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class NotAttempted(Fail):
    """The student's function still raises ``NotImplementedError`` (the TODO is not done)."""


def fmt(value: Any, precision: int = 4) -> str:
    """A short one-line rendering of a number, array, tensor or other value for feedback."""
    if value is None:
        return "None"
    try:
        import torch

        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{precision}g}"
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=precision, threshold=16, edgeitems=2, suppress_small=True,
                               max_line_width=10_000)
        text = " ".join(text.split())
        return f"{text} (shape {tuple(value.shape)})" if value.ndim > 1 else text
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def as_array(value: Any, what: str) -> np.ndarray:
    """``value`` (array, tensor, list, number) as a float numpy array, or Fail with a clear message."""
    if value is None:
        raise Fail(f"{what}: your function returned None (did you forget `return`?)")
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return value.detach().cpu().double().numpy()
    except ImportError:  # pragma: no cover
        pass
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Fail(f"{what}: expected numbers (an array or tensor), got {type(value).__name__}: {fmt(value)}") from None
    return arr


def _first_difference(what: str, arr: np.ndarray, exp: np.ndarray, ok: np.ndarray) -> str:
    bad = np.argwhere(~ok)[0]
    where = f" at index {tuple(int(i) for i in bad)}" if arr.ndim else ""
    diff = np.abs(arr - exp)
    largest = float(np.nanmax(diff)) if np.isfinite(diff).any() else float("nan")
    return (f"{what}: expected {fmt(exp)}, got {fmt(arr)} (first difference{where}: expected "
            f"{fmt(exp[tuple(bad)])}, got {fmt(arr[tuple(bad)])}; largest difference {fmt(largest)})")


def expect_close(what: str, got: Any, expected: Any, atol: float = 1e-6, rtol: float = 1e-5,
                 hint: str | None = None) -> None:
    """Fail unless ``got`` has ``expected``'s shape and values (within atol + rtol·|expected|)."""
    exp = as_array(expected, what)
    arr = as_array(got, what)
    if arr.shape != exp.shape:
        if arr.size == exp.size and arr.size > 0:
            raise Fail(f"{what}: expected shape {exp.shape}, got shape {arr.shape} (same number of entries: "
                       f"a reshape or a missing/extra dimension?)", hint)
        raise Fail(f"{what}: expected shape {exp.shape}, got shape {arr.shape}", hint)
    if not np.isfinite(arr).all() and np.isfinite(exp).all():
        raise Fail(f"{what}: your result contains nan or inf: {fmt(arr)}", hint)
    ok = np.isclose(arr, exp, atol=atol, rtol=rtol, equal_nan=True)
    if not ok.all() and arr.ndim == 0:
        raise Fail(f"{what}: expected {fmt(exp)}, got {fmt(arr)}", hint)
    if not ok.all():
        raise Fail(_first_difference(what, arr, exp, ok), hint)


def expect(condition: bool, message: str, hint: str | None = None) -> None:
    """Fail with ``message`` (and ``hint``) unless ``condition`` holds."""
    if not condition:
        raise Fail(message, hint)
