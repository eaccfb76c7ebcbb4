"""Grade a folder of submitted notebooks (``python -m mamba_edu.exercises grade``).

Each submission is graded on its own:

1. it is copied alone into a fresh temporary working directory (removed afterwards);
2. a fresh Jupyter kernel (``python3``) is started there with a minimal environment and a
   memory limit (:mod:`mamba_edu.exercises.sandbox`), ``MAMBA_EDU_GRADING=1`` (the notebook's
   own ``check(...)`` calls then only print a note) and single-threaded math libraries;
3. the student's cells run in order with a per-cell time limit (on expiry the kernel is
   interrupted and the next cell runs; a cell that swallows the interrupt gets the kernel killed
   after a grace period) and a limit for the whole notebook (cells after it are skipped);
   errors in the student's cells do not stop the run;
4. the grader appends its own cell, which connects the kernel to the grader; every question of
   the assignment is then checked **in the grader's process**, with a fresh seed for the random
   cases: the kernel only runs the student's functions on the grader's inputs and returns the
   values (:mod:`mamba_edu.exercises.kernel_run`, :mod:`mamba_edu.exercises.kernel_link`);
5. the kernel is shut down (killed).

Scores are therefore computed where the student's code never runs: a notebook that replaces the
checks or the grader's functions in its own kernel changes nothing but its own answers, and a
submission cannot change another one's score, since nothing is shared between kernels,
working directories or connections. The kernel is a process with limits, not a security
boundary: the student's code runs with the grader's user rights, so run untrusted submissions
in a container or as an unprivileged user.

Outputs in ``OUT``: ``grades.csv`` (one row per submission: total, per-question scores, status
and feedback), ``feedback.csv`` (one row per submission and question with the full feedback) and
``executed/`` (every submission with its outputs and the grader's feedback in its last cell).

Requires ``nbclient`` and ``ipykernel`` (the ``[grading]`` extra: ``pip install -e ".[grading]"``).
"""
from __future__ import annotations

import asyncio
import csv
import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamba_edu.exercises.kernel_run import GRADER_TAG
from mamba_edu.exercises.results import not_graded

DEFAULT_SEED = 20240501


@dataclass
class GradeOptions:
    cell_timeout: float = 120.0          #: seconds per student cell (then interrupted)
    total_timeout: float = 900.0         #: seconds for all student cells of a notebook (then skipped)
    question_timeout: float = 60.0       #: seconds of student code per question (inside the checks)
    seed: int = DEFAULT_SEED             #: seed of the random test cases (differs from the notebooks' seed 0)
    threads: int = 1                     #: OMP/MKL threads of each kernel
    assignment: str | None = None        #: for notebooks that do not say which assignment they are
    startup_timeout: float = 120.0       #: seconds to wait for a kernel to start
    keep_executed: bool = True
    memory_limit: float = 4.0            #: GiB of address space per kernel (0: none; Linux)
    interrupt_grace: float = 10.0        #: seconds an interrupted kernel gets to stop before it is killed


@dataclass
class SubmissionResult:
    submission: str                      #: path relative to the submissions folder
    student: str
    assignment: str | None
    status: str                          #: "ok", "cells failed", "timed out", "no report", "kernel died", ...
    questions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(q["points"] for q in self.questions), 2)

    @property
    def max_score(self) -> float:
        return round(sum(q["max_points"] for q in self.questions), 2)


# ----- finding and identifying submissions ------------------------------------------------------------------
def find_submissions(folder: Path) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts and not any(part.startswith(".") for part in
                                                                     p.relative_to(folder).parts))


def student_of(rel: Path) -> str:
    """The student a submission belongs to: its first folder, or the file name without extension."""
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _error_lines(nb) -> list[str]:
    out = []
    for k, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.get("metadata", {}).get("tags", []) == [GRADER_TAG]:
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                value = str(o.get("evalue", "")).strip().splitlines()
                out.append(f"cell {k}: {o.get('ename', 'Error')}{': ' + value[0][:200] if value else ''}")
    return out


# ----- running one notebook -----------------------------------------------------------------------------------
def _run(coro):
    """asyncio.run, also from inside a running event loop (e.g. when called from a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _unreadable(result: SubmissionResult, path: Path, options: GradeOptions, exc: Exception) -> SubmissionResult:
    from mamba_edu.exercises import assignment_questions
    from mamba_edu.exercises.release import assignment_of

    result.status = "unreadable"
    result.notes.append(f"not a readable notebook: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    result.assignment = options.assignment or assignment_of({}, path)
    if result.assignment:
        result.questions = [not_graded(q, "the notebook could not be read") for q in
                            assignment_questions(result.assignment)]
    return result


def _with_grader_cell(nb):
    """The notebook without outputs, with the grader's cell appended (filled in when it runs)."""
    from nbformat.v4 import new_code_cell

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    grader = new_code_cell("# added by the mamba-edu grader: not run")
    grader.metadata["tags"] = [GRADER_TAG]
    nb.cells.append(grader)
    return nb


def _record(result: SubmissionResult, nb, outcome, questions) -> None:
    """Status, notes, per-question rows and the grader cell's feedback of a finished run."""
    from nbformat.v4 import new_output

    result.status, result.notes = outcome.status, list(outcome.notes)
    errors = _error_lines(nb)
    interrupted = {n.split()[1] for n in outcome.notes if n.startswith("cell ") and "interrupted" in n}
    result.notes += [e for e in errors if e.split(":")[0].split()[1] not in interrupted]
    if errors and result.status == "ok":
        result.status = "cells failed"
    if outcome.rows is None:
        why = outcome.why_not_graded or "not graded"
        result.questions = [not_graded(q, why) for q in questions]
        feedback = [q["feedback"] for q in result.questions]
    else:
        result.questions, feedback = outcome.rows, outcome.feedback
    nb.cells[-1].outputs = [new_output("stream", name="stdout", text="\n".join(feedback) + "\n")]


def grade_one(path: Path, root: Path, options: GradeOptions, executed_dir: Path | None = None) -> SubmissionResult:
    """Grade one submitted notebook in a fresh kernel and working directory."""
    import nbformat

    from mamba_edu.exercises import assignment_questions
    from mamba_edu.exercises.kernel_run import KernelRun
    from mamba_edu.exercises.release import assignment_of

    rel = path.relative_to(root)
    start = time.perf_counter()
    result = SubmissionResult(str(rel), student_of(rel), None, "ok")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a result, not a crash
        result = _unreadable(result, path, options, exc)
        result.seconds = time.perf_counter() - start
        return result
    result.assignment = assignment_of(nb, path) or options.assignment
    if result.assignment is None:
        result.status = "unknown assignment"
        result.notes.append("cannot tell which assignment this is (no metadata, no NN_topic in the file name); "
                            "pass --assignment")
        result.seconds = time.perf_counter() - start
        return result
    questions = assignment_questions(result.assignment)
    nb = _with_grader_cell(nb)
    workdir = Path(tempfile.mkdtemp(prefix="mamba-edu-grade-"))
    try:
        shutil.copy2(path, workdir / path.name)
        outcome = _run(KernelRun(nb, workdir, options, questions).run())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _record(result, nb, outcome, questions)
    if executed_dir is not None:
        target = executed_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
    result.seconds = time.perf_counter() - start
    return result


# ----- a whole folder -------------------------------------------------------------------------------------------
def grade_folder(folder: Path, out_dir: Path, options: GradeOptions | None = None, jobs: int = 1,
                 progress=print) -> list[SubmissionResult]:
    """Grade every ``*.ipynb`` under ``folder``; write ``grades.csv``, ``feedback.csv`` and ``executed/``."""
    options = options or GradeOptions()
    folder, out_dir = Path(folder), Path(out_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder {folder} does not exist")
    paths = find_submissions(folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / "executed" if options.keep_executed else None

    def one(path: Path) -> SubmissionResult:
        r = grade_one(path, folder, options, executed)
        if progress:
            progress(f"{r.submission}: {r.score:g}/{r.max_score:g} ({r.status}, {r.seconds:.1f} s)")
        return r

    if jobs > 1:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, paths))
    else:
        results = [one(p) for p in paths]
    write_csvs(results, out_dir)
    return results


def write_csvs(results: Sequence[SubmissionResult], out_dir: Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    question_ids: list[str] = []
    for r in results:
        for q in r.questions:
            if q["question"] not in question_ids:
                question_ids.append(q["question"])
    grades = out_dir / "grades.csv"
    with grades.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "submission", "assignment", "score", "max_score", *question_ids, "status", "seconds",
                    "notes", "feedback"])
        for r in results:
            per = {q["question"]: q["points"] for q in r.questions}
            feedback = "\n".join(q["feedback"] for q in r.questions if q["points"] < q["max_points"])
            w.writerow([r.student, r.submission, r.assignment or "", f"{r.score:g}", f"{r.max_score:g}",
                        *[(f"{per[q]:g}" if q in per else "") for q in question_ids], r.status, f"{r.seconds:.1f}",
                        "\n".join(r.notes), feedback])
    long = out_dir / "feedback.csv"
    with long.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student", "submission", "assignment", "question", "points", "max_points", "passed", "total",
                    "status", "feedback"])
        for r in results:
            for q in r.questions:
                w.writerow([r.student, r.submission, r.assignment or "", q["question"], f"{q['points']:g}",
                            f"{q['max_points']:g}", q.get("passed", 0), q.get("total", 0), q["status"],
                            q["feedback"]])
    return grades, long
