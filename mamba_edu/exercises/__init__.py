"""Check functions for the classroom assignments in ``exercises/``.

Students call :func:`check` from the assignment notebooks::

    from mamba_edu.exercises import check, demo, summary
    check("belief_update", belief_update)

Every check compares the student's code with the package's own implementation (or a small case
computed by hand in the check's source) on several cases and prints which cases failed, with the
expected and the obtained value. Behaviour checks run the student's code in a task (e.g. the
student's belief update drives a search policy whose return is compared with the Bayes-optimal
return). The package's reference functions are switched off while the student's code runs, so
calling them instead of writing the code fails with a clear message.

Instructors use the command line (``python -m mamba_edu.exercises --help``):

* ``release`` — build the student notebooks from the reference solutions (solution blocks
  replaced by TODO stubs, checks kept);
* ``grade`` — run a folder of submitted notebooks, each in a fresh kernel and working directory
  with time and memory limits, check every question in the grader's own process (the kernel only
  returns the values of the student's functions) and write ``grades.csv`` (per-question scores
  and feedback).

See ``exercises/README.md`` for the instructor guide.

Assignments (one module each, named after the notebook):

====================  ==========================================================
``01_belief_update``   Bayes' rule for beliefs; searching a Rooms room; exact BAMDP values
``02_varibad_elbo``    VariBAD's ELBO with global and local reconstruction windows
``03_rssm_step``       one RSSM posterior step; KL balancing with free bits
``04_kde_bounds``      PAC regret bounds; L1 errors of joint vs per-sub-task KDEs
``05_lambda_returns``  λ-returns and return normalisation
``06_mamba_context``   MAMBA's full-context sampler and world-model horizon schedule
====================  ==========================================================
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import os
from collections.abc import Iterator
from typing import Any

from mamba_edu.exercises.questions import Question
from mamba_edu.exercises.results import CheckResult
from mamba_edu.exercises.scoring import run_question

#: assignment id -> module defining its questions
ASSIGNMENTS: dict[str, str] = {
    "01_belief_update": "mamba_edu.exercises.ex01_belief_update",
    "02_varibad_elbo": "mamba_edu.exercises.ex02_varibad_elbo",
    "03_rssm_step": "mamba_edu.exercises.ex03_rssm_step",
    "04_kde_bounds": "mamba_edu.exercises.ex04_kde_bounds",
    "05_lambda_returns": "mamba_edu.exercises.ex05_lambda_returns",
    "06_mamba_context": "mamba_edu.exercises.ex06_mamba_context",
}

#: results of the checks run in this Python session (what :func:`summary` shows)
_SESSION: dict[str, CheckResult] = {}

__all__ = ["ASSIGNMENTS", "assignment_questions", "check", "demo", "get_question", "summary"]


def assignment_questions(assignment: str) -> list[Question]:
    """The questions of ``assignment`` in notebook order."""
    if assignment not in ASSIGNMENTS:
        raise KeyError(f"unknown assignment {assignment!r}; valid: {', '.join(ASSIGNMENTS)}")
    return list(importlib.import_module(ASSIGNMENTS[assignment]).QUESTIONS)


def all_questions() -> dict[str, Question]:
    out: dict[str, Question] = {}
    for name in ASSIGNMENTS:
        for q in assignment_questions(name):
            if q.id in out:  # pragma: no cover - guarded by the tests
                raise RuntimeError(f"question id {q.id!r} is used twice")
            out[q.id] = q
    return out


def get_question(question_id: str) -> Question:
    for name in ASSIGNMENTS:
        for q in assignment_questions(name):
            if q.id == question_id:
                return q
    raise KeyError(f"unknown question {question_id!r}; valid: {', '.join(all_questions())}")


def _grading() -> bool:
    return os.environ.get("MAMBA_EDU_GRADING") == "1"


def check(question_id: str, *objects: Any, seed: int = 0) -> CheckResult | None:
    """Check the student's answer to ``question_id`` and print specific feedback.

    ``objects`` are the student's functions/classes the question needs, in the order of the
    question's ``names``; left out, they are looked up by name in the caller's global namespace.
    Never raises because of the student's code: errors, missing functions, unfinished TODOs and
    time-outs all become feedback. While the grader runs a notebook (``MAMBA_EDU_GRADING=1``)
    this call only prints a note: the grader checks every question itself after the notebook.
    """
    try:
        question = get_question(question_id)
    except KeyError as exc:
        print(f"check: {exc.args[0]}")
        return None
    if _grading():
        print(f"[{question_id}] checked by the grader at the end of the notebook")
        return None
    if not objects:
        caller = inspect.currentframe().f_back.f_globals  # type: ignore[union-attr]
        objects = tuple(caller.get(name) for name in question.names)
    elif len(objects) != len(question.names):
        print(f"check({question_id!r}, ...) expects {len(question.names)} object(s): "
              f"{', '.join(question.names)}; got {len(objects)}")
        return None
    result = run_question(question, objects, seed=seed)
    _SESSION[question_id] = result
    print(result.feedback())
    return None


def summary(assignment: str | None = None) -> None:
    """Print the score of every question checked so far in this session (and the ones not yet checked)."""
    if _grading():
        print("summary: the grader's final cell reports the scores")
        return
    names = [assignment] if assignment else list(ASSIGNMENTS)
    lines = []
    total = maximum = 0.0
    for name in names:
        for q in assignment_questions(name):
            r = _SESSION.get(q.id)
            if r is None:
                if assignment:
                    lines.append(f"  {q.id:<24} not checked yet ({q.points:g} points)")
                    maximum += q.points
                continue
            lines.append(f"  {q.id:<24} {r.points:>5g} / {r.max_points:<3g} {r.status}")
            total += r.points
            maximum += r.max_points
    if not lines:
        print("summary: no checks run yet")
        return
    print("\n".join(lines + [f"  {'total':<24} {total:>5g} / {maximum:g}"]))


@contextlib.contextmanager
def demo(what: str = "this demo") -> Iterator[None]:
    """Run a notebook's illustration of the student's code without stopping the notebook.

    An unfinished TODO (``NotImplementedError``) skips the demo with a note; any other error is
    printed in one line. The checks, not the demos, give the detailed feedback.
    """
    try:
        yield
    except NotImplementedError:
        print(f"({what} skipped: finish the TODO above first)")
    except Exception as exc:  # noqa: BLE001 - keep the notebook running
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"({what} stopped: {type(exc).__name__}{': ' + text if text else ''}; run the check above for "
              f"details)")
