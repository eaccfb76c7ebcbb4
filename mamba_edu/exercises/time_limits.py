"""How long the student's code may run inside a check.

The student's code gets ``question_timeout`` seconds in total per question
(``MAMBA_EDU_CHECK_TIMEOUT``, default 60 s). Where the student's code runs in this process
(``check(...)`` in a notebook, and the grader's calls into a submission's kernel) the limit is
enforced with ``SIGALRM`` (Linux, macOS; on Windows there is no per-question alarm). When it
runs out, the current case fails with a "did not finish" message and the remaining cases are
not run. The grader adds its own deadline on top (see :mod:`mamba_edu.exercises.kernel_link`),
so code that swallows the alarm does not hold it.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

DEFAULT_QUESTION_TIMEOUT = 60.0


class TimeUp(BaseException):
    """Raised by the alarm when the student's code exceeds the question's time budget.

    A ``BaseException`` so that a student's ``except Exception`` does not swallow it.
    """


def question_timeout_from_env() -> float:
    """The per-question limit from ``MAMBA_EDU_CHECK_TIMEOUT`` (the default when unset or invalid)."""
    raw = os.environ.get("MAMBA_EDU_CHECK_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_QUESTION_TIMEOUT
    except ValueError:
        value = DEFAULT_QUESTION_TIMEOUT
    return value if value > 0 else DEFAULT_QUESTION_TIMEOUT


def _can_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`TimeUp` in the main thread after ``seconds`` (a no-op where SIGALRM is missing)."""
    if not _can_alarm():
        yield
        return

    def handler(signum, frame):
        raise TimeUp()

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, max(float(seconds), 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
