"""How a question is written: a :class:`Question`, its :class:`Case` objects, and the :class:`Context` they use.

A :class:`Question` names the student objects it needs (``names``) and builds a list of cases
from them. Each case calls the student's code through :meth:`Context.call` (time limit and
tripwires, see :mod:`mamba_edu.exercises.student_code`) and compares the result with the
package's own implementation or with a small hand-computed case, raising
:class:`~mamba_edu.exercises.feedback.Fail` when they differ.

Where the grader runs the checks, the student's objects are references into the submission's
kernel and :meth:`Context.call` asks that kernel for the value (see
:mod:`mamba_edu.exercises.kernel_link`). A case therefore passes student code, arguments that
can be pickled (arrays, tensors, the package's objects and module-level functions) and receives
plain values back; anything that needs the student's code and autograd together (gradients) is
a module-level helper passed to :meth:`Context.call` with the student's function as an argument.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mamba_edu.exercises.student_code import LocalCalls, StudentCalls
from mamba_edu.exercises.time_limits import TimeUp
from mamba_edu.quick import quick_mode  # re-exported: the exercises' cases read quick mode from here


@dataclass
class Case:
    """One named test: ``run()`` returns None when it passes, raises :class:`Fail` when it does not."""

    name: str
    run: Callable[[], Any]


@dataclass
class Context:
    """What a question's cases get: a seeded RNG, quick mode, and the guarded way to call student code."""

    seed: int
    question_timeout: float
    forbidden: Sequence[tuple[Callable, str]] = ()
    quick: bool = field(default_factory=quick_mode)
    used: float = 0.0
    current: str = ""
    calls: StudentCalls | None = None     #: where student code runs (default: this process, with ``forbidden``)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        if self.calls is None:
            self.calls = LocalCalls(self.forbidden)

    def torch_generator(self, offset: int = 0):
        import torch

        g = torch.Generator()
        g.manual_seed(int(self.seed) * 1000 + offset)
        return g

    @property
    def remaining(self) -> float:
        return self.question_timeout - self.used

    def call(self, fn: Callable, *args: Any, what: str | None = None, **kwargs: Any) -> Any:
        """Call student code ``fn(*args, **kwargs)`` under the time budget and the tripwires.

        NotImplementedError → :class:`NotAttempted`; any other exception → :class:`Fail` naming it and the
        student's line; the package's reference functions (``forbidden``) → :class:`Fail`.
        """
        label = what or getattr(fn, "__name__", "your code")
        if self.remaining <= 0:
            raise TimeUp()
        start = time.perf_counter()
        try:
            assert self.calls is not None
            return self.calls.call(fn, args, kwargs, label, self.remaining)
        finally:
            self.used += time.perf_counter() - start


@dataclass
class Question:
    """A graded question of an assignment.

    ``build(ctx, *objects)`` returns the list of cases, where ``objects`` are the student's objects
    named by ``names`` (looked up in the notebook's namespace when grading). ``forbidden`` lists
    ``(function, label)`` pairs of package functions the student's code may not call.
    """

    id: str
    assignment: str
    title: str
    points: float
    names: tuple[str, ...]
    build: Callable[..., list[Case]]
    forbidden: Callable[[], Sequence[tuple[Callable, str]]] | None = None
    hint: str = ""
    behaviour: bool = False
