"""Calling the student's code: under the time limit and the tripwires, with every error turned into feedback.

:func:`call_student` is the one place where a check hands control to code the student wrote.
It runs wherever that code lives: in the student's own notebook for ``check(...)``
(:class:`LocalCalls`), and inside the submission's kernel when the grader asks for an answer
(:mod:`mamba_edu.exercises.answers`).
"""
from __future__ import annotations

import linecache
import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mamba_edu.exercises.feedback import Fail, NotAttempted
from mamba_edu.exercises.time_limits import TimeUp, alarm
from mamba_edu.exercises.tripwires import forbid, reference_called

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../mamba_edu


def _student_location(tb) -> str:
    """'line N: source' of the innermost traceback frame in the student's code (not the package's)."""
    for fr in reversed(traceback.extract_tb(tb)):
        name = fr.filename or ""
        if name.startswith(_PACKAGE) or "site-packages" in name or "/lib/python" in name:
            continue
        line = (fr.line or linecache.getline(name, fr.lineno) or "").strip()
        return f" (in {fr.name}, line {fr.lineno}: {line})" if line else f" (in {fr.name}, line {fr.lineno})"
    return ""


def _raising_function(tb) -> str | None:
    """Name of the innermost function in the traceback (the one whose TODO is not done)."""
    frames = traceback.extract_tb(tb)
    return frames[-1].name if frames and frames[-1].name != "<module>" else None


def call_student(fn: Callable, args: Sequence[Any], kwargs: dict[str, Any], label: str, seconds: float,
                 forbidden: Sequence[tuple[Callable, str]] = ()) -> Any:
    """``fn(*args, **kwargs)`` within ``seconds`` and with the reference functions ``forbidden`` switched off.

    NotImplementedError → :class:`NotAttempted`; a call of a forbidden function or any other
    exception → :class:`Fail` naming it and the student's line; :class:`Fail` (raised by a check
    helper), :class:`TimeUp` and ``KeyboardInterrupt`` pass through.
    """
    try:
        with alarm(seconds), forbid(forbidden):
            return fn(*args, **kwargs)
    except (TimeUp, KeyboardInterrupt):
        raise
    except NotImplementedError as exc:
        who = _raising_function(exc.__traceback__) or label
        raise NotAttempted(f"{who} is not implemented yet (it raises NotImplementedError)") from None
    except RuntimeError as exc:
        ref = reference_called(exc)
        if ref is not None:
            raise Fail(f"{label} calls the package's reference implementation `{ref}`; this exercise asks "
                       f"you to write that part yourself") from None
        raise Fail(f"{label} raised RuntimeError: {exc}{_student_location(exc.__traceback__)}") from None
    except Fail:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any student error becomes feedback
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise Fail(f"{label} raised {type(exc).__name__}"
                   f"{': ' + text if text else ''}{_student_location(exc.__traceback__)}") from None


class StudentCalls(Protocol):
    """Where a question's calls of student code go: this process, or a submission's kernel."""

    def call(self, fn: Callable, args: Sequence[Any], kwargs: dict[str, Any], label: str,
             seconds: float) -> Any: ...


@dataclass
class LocalCalls:
    """The student's code lives in this process (``check(...)`` in the student's notebook)."""

    forbidden: Sequence[tuple[Callable, str]] = ()

    def call(self, fn: Callable, args: Sequence[Any], kwargs: dict[str, Any], label: str, seconds: float) -> Any:
        return call_student(fn, args, kwargs, label, seconds, self.forbidden)
