"""The machinery behind ``check(...)``: questions, cases, time limits and feedback.

A :class:`Question` names the student objects it needs (``names``) and builds a list of
:class:`Case` objects from them. Each case calls the student's code through :meth:`Context.call`
(which applies the time limit and the "do not call the reference implementation" tripwires) and
compares the result with the package's own implementation or with a small hand-computed case,
raising :class:`Fail` with an "expected … got …" message when they differ. :func:`run_question`
runs the cases and returns a :class:`CheckResult`; the score is the question's points times the
fraction of cases passed.

Time limits: the student's code gets ``question_timeout`` seconds in total per question
(``MAMBA_EDU_CHECK_TIMEOUT``, default 60 s), enforced with ``SIGALRM`` where the platform has it
(Linux, macOS; on Windows there is no per-question limit, only the grader's per-cell limit). When
it runs out, the current case fails with a "did not finish" message and the remaining cases are
not run.
"""
from __future__ import annotations

import contextlib
import linecache
import math
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_QUESTION_TIMEOUT = 60.0
TRIPWIRE_MARK = "__mamba_edu_reference_called__"
PASS, FAIL = "\u2713", "\u2717"


def quick_mode() -> bool:
    return os.environ.get("MAMBA_EDU_QUICK") == "1"


def question_timeout_from_env() -> float:
    raw = os.environ.get("MAMBA_EDU_CHECK_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_QUESTION_TIMEOUT
    except ValueError:
        value = DEFAULT_QUESTION_TIMEOUT
    return value if value > 0 else DEFAULT_QUESTION_TIMEOUT


# ----- failures --------------------------------------------------------------------------------
class Fail(Exception):
    """A case failed; ``str(self)`` is the feedback shown to the student."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class NotAttempted(Fail):
    """The student's function still raises ``NotImplementedError`` (the TODO is not done)."""


class TimeUp(BaseException):
    """Raised by the alarm when the student's code exceeds the question's time budget.

    A ``BaseException`` so that a student's ``except Exception`` does not swallow it.
    """


# ----- formatting ------------------------------------------------------------------------------
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
        bad = np.argwhere(~ok)[0]
        where = f" at index {tuple(int(i) for i in bad)}" if arr.ndim else ""
        diff = np.abs(arr - exp)
        raise Fail(f"{what}: expected {fmt(exp)}, got {fmt(arr)} (first difference{where}: expected "
                   f"{fmt(exp[tuple(bad)])}, got {fmt(arr[tuple(bad)])}; largest difference "
                   f"{fmt(float(np.nanmax(diff)) if np.isfinite(diff).any() else float('nan'))})", hint)


def expect(condition: bool, message: str, hint: str | None = None) -> None:
    if not condition:
        raise Fail(message, hint)


# ----- tripwires: the package's reference implementations are off limits during a student call --
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


# ----- time limit --------------------------------------------------------------------------------
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


def _student_location(tb) -> str:
    """'line N: source' of the innermost traceback frame in the student's code (not the package's)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../mamba_edu
    frames = traceback.extract_tb(tb)
    for fr in reversed(frames):
        name = fr.filename or ""
        if name.startswith(here) or "site-packages" in name or "/lib/python" in name:
            continue
        line = (fr.line or linecache.getline(name, fr.lineno) or "").strip()
        return f" (in {fr.name}, line {fr.lineno}: {line})" if line else f" (in {fr.name}, line {fr.lineno})"
    return ""


def _raising_function(tb) -> str | None:
    """Name of the innermost function in the traceback (the one whose TODO is not done)."""
    frames = traceback.extract_tb(tb)
    return frames[-1].name if frames and frames[-1].name != "<module>" else None


# ----- questions ------------------------------------------------------------------------------------
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

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

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
            with alarm(self.remaining), forbid(self.forbidden):
                return fn(*args, **kwargs)
        except (TimeUp, KeyboardInterrupt):
            raise
        except NotImplementedError as exc:
            who = _raising_function(exc.__traceback__) or label
            raise NotAttempted(f"{who} is not implemented yet (it raises NotImplementedError)") from None
        except RuntimeError as exc:
            msg = str(exc)
            if msg.startswith(TRIPWIRE_MARK):
                ref = msg[len(TRIPWIRE_MARK):]
                raise Fail(f"{label} calls the package's reference implementation `{ref}`; this exercise asks "
                           f"you to write that part yourself") from None
            raise Fail(f"{label} raised RuntimeError: {msg}{_student_location(exc.__traceback__)}") from None
        except Fail:
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any student error becomes feedback
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise Fail(f"{label} raised {type(exc).__name__}"
                       f"{': ' + text if text else ''}{_student_location(exc.__traceback__)}") from None
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


@dataclass
class CaseResult:
    name: str
    status: str           #: "pass", "fail", "not attempted", "time limit", "not run"
    message: str = ""
    hint: str | None = None


@dataclass
class CheckResult:
    question: str
    assignment: str
    title: str
    max_points: float
    cases: list[CaseResult]
    status: str           #: "passed", "partial", "failed", "not attempted", "missing", "time limit", "error"
    note: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(c.status == "pass" for c in self.cases)

    @property
    def total(self) -> int:
        return len(self.cases)

    @property
    def points(self) -> float:
        if not self.cases or self.status in ("missing", "error"):
            return 0.0
        return round(self.max_points * self.passed / self.total, 2)

    def feedback(self, passed_cases: bool = True) -> str:
        head = (f"[{self.question}] {self.title}: {self.passed}/{self.total} cases passed, "
                f"{_num(self.points)}/{_num(self.max_points)} points")
        lines = [head]
        if self.note:
            lines.append(f"  {self.note}")
        if self.status == "not attempted":
            lines.append("  Fill in the TODO (replace the `raise NotImplementedError(...)` line) and run this check "
                         "again.")
            return "\n".join(lines)
        hints = []
        shown: set[str] = set()
        for c in self.cases:
            if c.status == "pass":
                if passed_cases:
                    lines.append(f"  {PASS} {c.name}")
                continue
            mark = FAIL if c.status != "not run" else "-"
            lines.append(f"  {mark} {c.name}" + (f" [{c.status}]" if c.status in ("time limit", "not run") else ""))
            if c.message in shown:
                lines.append("      (same problem as above)")
            elif c.message:
                shown.add(c.message)
                lines.extend("      " + part for part in c.message.splitlines())
            if c.hint and c.hint not in hints:
                hints.append(c.hint)
        for h in hints:
            lines.append(f"  Hint: {h}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"question": self.question, "assignment": self.assignment, "title": self.title,
                "points": self.points, "max_points": self.max_points, "passed": self.passed, "total": self.total,
                "status": self.status, "seconds": round(self.seconds, 3), "feedback": self.feedback(passed_cases=False)}


def _num(x: float) -> str:
    return f"{x:g}"


def run_question(question: Question, objects: Sequence[Any], seed: int = 0,
                 question_timeout: float | None = None) -> CheckResult:
    """Run every case of ``question`` on the student's ``objects`` and collect the feedback."""
    timeout = question_timeout_from_env() if question_timeout is None else float(question_timeout)
    start = time.perf_counter()

    def result(cases, status, note=""):
        return CheckResult(question.id, question.assignment, question.title, question.points, cases, status, note,
                           time.perf_counter() - start)

    missing = [n for n, obj in zip(question.names, objects) if obj is None]
    if missing:
        names = ", ".join(f"`{n}`" for n in missing)
        return result([CaseResult("the objects this question needs exist", "fail",
                                  f"{names} {'is' if len(missing) == 1 else 'are'} not defined: run the cell that "
                                  f"defines {'it' if len(missing) == 1 else 'them'} (did you rename or delete it, or "
                                  f"does that cell raise an error?)")], "missing")
    forbidden = question.forbidden() if question.forbidden else ()
    ctx = Context(seed=seed, question_timeout=timeout, forbidden=forbidden)
    try:
        cases = question.build(ctx, *objects)
    except Exception as exc:  # noqa: BLE001 - a broken check must not crash the notebook
        return result([CaseResult("building the test cases", "fail", f"the check itself failed: "
                                  f"{type(exc).__name__}: {exc} (please tell your instructor)")], "error")
    results: list[CaseResult] = []
    timed_out = False
    for i, case in enumerate(cases):
        if timed_out:
            results.append(CaseResult(case.name, "not run", ""))
            continue
        ctx.current = case.name
        try:
            case.run()
            results.append(CaseResult(case.name, "pass"))
        except NotAttempted as f:
            results.append(CaseResult(case.name, "not attempted", f.message, f.hint))
        except Fail as f:
            results.append(CaseResult(case.name, "fail", f.message, f.hint or question.hint or None))
        except TimeUp:
            timed_out = True
            results.append(CaseResult(case.name, "time limit",
                                      f"your code did not finish within the {timeout:g} s this question allows "
                                      f"(an infinite loop, or far too slow?); the remaining cases were not run",
                                      question.hint or None))
        except Exception as exc:  # noqa: BLE001 - a bug in the check itself
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            results.append(CaseResult(case.name, "fail", f"the check itself failed ({tb}); please tell your "
                                      f"instructor"))
    n_pass = sum(r.status == "pass" for r in results)
    if timed_out:
        status = "time limit"
    elif results and all(r.status == "not attempted" for r in results):
        status = "not attempted"
    elif n_pass == len(results):
        status = "passed"
    elif n_pass:
        status = "partial"
    else:
        status = "failed"
    note = ""
    if status == "not attempted":
        note = results[0].message
    elif any(r.status == "not attempted" for r in results):
        note = "some of the functions this question uses are not implemented yet"
    res = result(results, status, note)
    return res


def finite(x: float) -> bool:
    return isinstance(x, (int, float, np.floating, np.integer)) and math.isfinite(float(x))


def session_print(text: str) -> None:
    print(text, file=sys.stdout, flush=True)
