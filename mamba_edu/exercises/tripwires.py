"""The package's reference implementations are off limits while the student's code runs.

Each question lists the package functions that solve it (``Question.forbidden``). While the
student's code runs, :func:`forbid` swaps their code objects for one that raises a marked
``RuntimeError``, so every reference to them, however imported, is affected; the originals are
restored afterwards. :func:`reference_called` reads the mark back from the exception.

The tripwires catch a student who calls the package instead of writing the code; they are not a
barrier against one who sets out to get around them (that student's kernel is theirs to change).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

TRIPWIRE_MARK = "__mamba_edu_reference_called__"


def _tripwire_code(label: str, like: Any):
    ns: dict[str, Any] = {}
    exec(f"def _tripwire(*args, **kwargs):\n    raise RuntimeError({TRIPWIRE_MARK + label!r})\n", ns)
    code = ns["_tripwire"].__code__
    return code if len(code.co_freevars) == len(like.co_freevars) else None


@contextlib.contextmanager
def forbid(functions: Sequence[tuple[Callable, str]]) -> Iterator[None]:
    """Make each function raise a marked RuntimeError while the block runs (its code object is swapped,
    so every reference to it, however imported, is affected); restored afterwards."""
    swapped = []
    try:
        for fn, label in functions:
            fn = getattr(fn, "__func__", fn)
            code = getattr(fn, "__code__", None)
            if code is None:
                continue
            trip = _tripwire_code(label, code)
            if trip is None:
                continue
            fn.__code__ = trip
            swapped.append((fn, code))
        yield
    finally:
        for fn, code in reversed(swapped):
            fn.__code__ = code


def reference_called(exc: BaseException) -> str | None:
    """The label of the reference function whose tripwire raised ``exc``, or None."""
    message = str(exc)
    return message[len(TRIPWIRE_MARK):] if message.startswith(TRIPWIRE_MARK) else None
