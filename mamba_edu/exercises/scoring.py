"""Scoring a question: run its cases on the student's objects and turn the outcomes into points.

The score is the question's points times the fraction of cases passed. A case that runs out of
the question's time budget fails with a "did not finish" message and the remaining cases are
not run. Missing objects (a deleted or failing cell) give zero points with a message that says
which names are missing.
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from typing import Any

from mamba_edu.exercises.feedback import Fail, NotAttempted
from mamba_edu.exercises.questions import Case, Context, Question
from mamba_edu.exercises.results import CaseResult, CheckResult
from mamba_edu.exercises.student_code import StudentCalls
from mamba_edu.exercises.time_limits import TimeUp, question_timeout_from_env


def _missing_case(missing: list[str]) -> CaseResult:
    names = ", ".join(f"`{n}`" for n in missing)
    one = len(missing) == 1
    return CaseResult("the objects this question needs exist", "fail",
                      f"{names} {'is' if one else 'are'} not defined: run the cell that defines "
                      f"{'it' if one else 'them'} (did you rename or delete it, or does that cell raise an error?)")


def _run_case(ctx: Context, case: Case, question: Question, timeout: float) -> CaseResult:
    ctx.current = case.name
    try:
        case.run()
        return CaseResult(case.name, "pass")
    except NotAttempted as f:
        return CaseResult(case.name, "not attempted", f.message, f.hint)
    except Fail as f:
        return CaseResult(case.name, "fail", f.message, f.hint or question.hint or None)
    except TimeUp:
        return CaseResult(case.name, "time limit",
                          f"your code did not finish within the {timeout:g} s this question allows (an infinite "
                          f"loop, or far too slow?); the remaining cases were not run", question.hint or None)
    except Exception as exc:  # noqa: BLE001 - a bug in the check itself
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return CaseResult(case.name, "fail", f"the check itself failed ({tb}); please tell your instructor")


def _run_cases(ctx: Context, cases: list[Case], question: Question, timeout: float) -> list[CaseResult]:
    results: list[CaseResult] = []
    for case in cases:
        if results and results[-1].status in ("time limit", "not run"):
            results.append(CaseResult(case.name, "not run", ""))
        else:
            results.append(_run_case(ctx, case, question, timeout))
    return results


def _status(results: list[CaseResult]) -> tuple[str, str]:
    """The question's status and note from its cases' results."""
    n_pass = sum(r.status == "pass" for r in results)
    if any(r.status == "time limit" for r in results):
        status = "time limit"
    elif results and all(r.status == "not attempted" for r in results):
        status = "not attempted"
    elif n_pass == len(results):
        status = "passed"
    else:
        status = "partial" if n_pass else "failed"
    note = ""
    if status == "not attempted":
        note = results[0].message
    elif any(r.status == "not attempted" for r in results):
        note = "some of the functions this question uses are not implemented yet"
    return status, note


def run_question(question: Question, objects: Sequence[Any], seed: int = 0, question_timeout: float | None = None,
                 calls: StudentCalls | None = None) -> CheckResult:
    """Run every case of ``question`` on the student's ``objects`` and collect the feedback.

    ``calls`` says where the student's code runs: by default in this process (with the question's
    tripwires); the grader passes its link to the submission's kernel.
    """
    timeout = question_timeout_from_env() if question_timeout is None else float(question_timeout)
    start = time.perf_counter()

    def result(cases: list[CaseResult], status: str, note: str = "") -> CheckResult:
        return CheckResult(question.id, question.assignment, question.title, question.points, cases, status, note,
                           time.perf_counter() - start)

    missing = [n for n, obj in zip(question.names, objects) if obj is None]
    if missing:
        return result([_missing_case(missing)], "missing")
    if calls is None:
        forbidden = question.forbidden() if question.forbidden else ()
        ctx = Context(seed=seed, question_timeout=timeout, forbidden=forbidden)
    else:
        ctx = Context(seed=seed, question_timeout=timeout, calls=calls)
    try:
        cases = question.build(ctx, *objects)
    except Exception as exc:  # noqa: BLE001 - a broken check must not crash the notebook
        return result([CaseResult("building the test cases", "fail", f"the check itself failed: "
                                  f"{type(exc).__name__}: {exc} (please tell your instructor)")], "error")
    results = _run_cases(ctx, cases, question, timeout)
    return result(results, *_status(results))
