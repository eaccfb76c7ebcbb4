"""Grade a folder of submitted notebooks (``python -m mamba_edu.exercises grade``).

Each submission is graded on its own:

1. it is copied alone into a fresh temporary working directory (removed afterwards);
2. a fresh Jupyter kernel (``python3``) is started there, with ``MAMBA_EDU_GRADING=1`` (the
   notebook's own ``check(...)`` calls then only print a note), the per-question time limit in
   ``MAMBA_EDU_CHECK_TIMEOUT`` and single-threaded math libraries;
3. the student's cells run in order with a per-cell time limit (on expiry the kernel is
   interrupted and the next cell runs) and a limit for the whole notebook (cells after it are
   skipped); errors in the student's cells do not stop the run;
4. the grader appends its own cell, which runs every question of the assignment on the objects
   the notebook defined (by name), with a fresh random seed for the random cases and the
   per-question time limit, and reports the scores as a JSON display output;
5. the kernel is shut down (killed).

Scores therefore come only from that kernel's final cell: a submission cannot change another
one's score, since nothing is shared between kernels, working directories or reports. (A
submission *can* tamper with its own kernel -- e.g. monkeypatch the checks -- as with any
notebook autograder; the executed notebooks are kept for spot checks.) Run untrusted
submissions in a container or as an unprivileged user: the student's code runs with the
grader's permissions.

Outputs in ``OUT``: ``grades.csv`` (one row per submission: total, per-question scores, status
and feedback), ``feedback.csv`` (one row per submission and question with the full feedback) and
``executed/`` (every submission with its outputs and the grader's report).

Requires ``nbclient`` and ``ipykernel`` (the ``[grading]`` extra: ``pip install -e ".[grading]"``).
"""
from __future__ import annotations

import asyncio
import csv
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GRADE_MIME = "application/vnd.mamba-edu.grade+json"
GRADER_TAG = "mamba-edu-grader"
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


# ----- the grader's cell -------------------------------------------------------------------------------
def report(assignment: str, namespace: dict[str, Any], seed: int, question_timeout: float, nonce: str) -> None:
    """Run every question of ``assignment`` on ``namespace`` and display the scores (the grader's final cell)."""
    from IPython.display import display

    from mamba_edu.exercises import assignment_questions
    from mamba_edu.exercises._core import run_question

    results = []
    for q in assignment_questions(assignment):
        objects = [namespace.get(name) for name in q.names]
        r = run_question(q, objects, seed=seed, question_timeout=question_timeout)
        results.append(r.as_dict())
        print(r.feedback())
    display({GRADE_MIME: {"nonce": nonce, "assignment": assignment, "questions": results}}, raw=True)


def grader_cell_source(assignment: str, seed: int, question_timeout: float, nonce: str) -> str:
    return ("# added by the mamba-edu grader: score every question of this assignment\n"
            "import mamba_edu.exercises.grading as _mamba_edu_grading\n"
            f"_mamba_edu_grading.report({assignment!r}, globals(), seed={int(seed)}, "
            f"question_timeout={float(question_timeout)!r}, nonce={nonce!r})\n")


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
def _kernel_env(options: GradeOptions) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"MAMBA_EDU_GRADING": "1", "MAMBA_EDU_CHECK_TIMEOUT": f"{options.question_timeout:g}",
                "OMP_NUM_THREADS": str(options.threads), "MKL_NUM_THREADS": str(options.threads),
                "OPENBLAS_NUM_THREADS": str(options.threads), "MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    for key in list(env):
        if key.startswith("JPY_") or key == "JUPYTER_RUNTIME_DIR":
            env.pop(key)
    return env


async def _execute(nb, workdir: Path, options: GradeOptions, n_questions: int) -> tuple[str, list[str]]:
    """Run the notebook's cells (and the grader's last cell) in a fresh kernel; returns (status, notes)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    notes: list[str] = []
    start = time.monotonic()
    deadline = start + options.total_timeout
    grader_budget = n_questions * (options.question_timeout + 120.0) + 60.0
    timed_out_cells: list[int] = []

    def timeout_func(cell) -> int:
        if GRADER_TAG in cell.get("metadata", {}).get("tags", []):
            return int(grader_budget)
        return int(max(1, min(options.cell_timeout, deadline - time.monotonic())))

    client = NotebookClient(
        nb, kernel_name="python3", timeout_func=timeout_func, interrupt_on_timeout=True, allow_errors=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": "the cell ran past its time limit and was "
                          "interrupted", "traceback": []},
        startup_timeout=int(options.startup_timeout), shutdown_kernel="immediate", record_timing=False,
        extra_arguments=["--IPKernelApp.ignore_cwd=True"], resources={"metadata": {"path": str(workdir)}})
    # nbclient answers a timed-out cell with ``error_on_timeout`` as its execute reply, while the cell's
    # outputs only show the KeyboardInterrupt of the interrupt: watch the replies to tell the two apart.
    replied_timeout: set[int] = set()

    def on_cell_executed(cell, cell_index, execute_reply):
        if (execute_reply or {}).get("content", {}).get("ename") == "CellTimeoutError":
            replied_timeout.add(cell_index)

    client.on_cell_executed = on_cell_executed
    status = "ok"
    try:
        client.reset_execution_trackers()
        async with client.async_setup_kernel(env=_kernel_env(options), cwd=str(workdir), stderr=subprocess.DEVNULL):
            assert client.kc is not None
            msg_id = client.kc.kernel_info()
            if asyncio.iscoroutine(msg_id):  # pragma: no cover - depends on the jupyter_client version
                msg_id = await msg_id
            await client.async_wait_for_reply(msg_id)
            last = len(nb.cells) - 1
            for index, cell in enumerate(nb.cells):
                is_grader = index == last
                if not is_grader and time.monotonic() >= deadline:
                    if cell.cell_type == "code":
                        notes.append(f"cell {index} skipped: the notebook ran past its {options.total_timeout:g} s "
                                     f"limit")
                        status = "timed out"
                    continue
                t0 = time.monotonic()
                await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
                if cell.cell_type == "code" and not is_grader and (index in replied_timeout or any(
                        o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", []))):
                    timed_out_cells.append(index)
                    notes.append(f"cell {index} interrupted after {time.monotonic() - t0:.0f} s (time limit "
                                 f"{min(options.cell_timeout, options.total_timeout):g} s per cell)")
                    status = "timed out"
    except DeadKernelError:
        status = "kernel died"
        notes.append("the kernel died (the notebook exited Python or ran out of memory); scores are 0")
    except CellTimeoutError as exc:  # pragma: no cover - interrupt_on_timeout makes this rare
        status = "timed out"
        notes.append(f"a cell did not stop after its time limit: {exc}")
    except RuntimeError as exc:      # kernel failed to start, etc.
        status = "kernel error"
        notes.append(f"the kernel could not run the notebook: {exc}")
    return status, notes


def _run(coro):
    """asyncio.run, also from inside a running event loop (e.g. when called from a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def grade_one(path: Path, root: Path, options: GradeOptions, executed_dir: Path | None = None) -> SubmissionResult:
    """Grade one submitted notebook in a fresh kernel and working directory."""
    import nbformat
    from nbformat.v4 import new_code_cell

    from mamba_edu.exercises import assignment_questions
    from mamba_edu.exercises.release import assignment_of

    rel = path.relative_to(root)
    start = time.perf_counter()
    result = SubmissionResult(str(rel), student_of(rel), None, "ok")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a result, not a crash
        result.status = "unreadable"
        result.notes.append(f"not a readable notebook: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        result.assignment = options.assignment or assignment_of({}, path)
        if result.assignment:
            result.questions = [_zero(q, "the notebook could not be read") for q in
                                assignment_questions(result.assignment)]
        result.seconds = time.perf_counter() - start
        return result
    assignment = assignment_of(nb, path) or options.assignment
    result.assignment = assignment
    if assignment is None:
        result.status = "unknown assignment"
        result.notes.append("cannot tell which assignment this is (no metadata, no NN_topic in the file name); "
                            "pass --assignment")
        result.seconds = time.perf_counter() - start
        return result
    questions = assignment_questions(assignment)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nonce = secrets.token_hex(8)
    grader = new_code_cell(grader_cell_source(assignment, options.seed, options.question_timeout, nonce))
    grader.metadata["tags"] = [GRADER_TAG]
    nb.cells.append(grader)
    workdir = Path(tempfile.mkdtemp(prefix="mamba-edu-grade-"))
    try:
        shutil.copy2(path, workdir / path.name)
        status, notes = _run(_execute(nb, workdir, options, len(questions)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result.status, result.notes = status, notes
    errors = _error_lines(nb)
    interrupted = {n.split()[1] for n in notes if n.startswith("cell ") and "interrupted" in n}
    result.notes += [e for e in errors if e.split(":")[0].split()[1] not in interrupted]
    if errors and status == "ok":
        result.status = "cells failed"
    payload = _find_report(nb.cells[-1], nonce)
    if payload is None:
        if result.status in ("ok", "cells failed", "timed out"):
            result.status = "no report"
        grader_errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in nb.cells[-1].get("outputs", [])
                         if o.get("output_type") == "error"]
        why = grader_errors[0] if grader_errors else "the grader's cell produced no report"
        result.notes.append(f"grader: {why}")
        result.questions = [_zero(q, f"not graded ({why})") for q in questions]
    else:
        by_id = {q["question"]: q for q in payload["questions"]}
        result.questions = [by_id.get(q.id) or _zero(q, "missing from the report") for q in questions]
    if executed_dir is not None:
        target = executed_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
    result.seconds = time.perf_counter() - start
    return result


def _zero(question, why: str) -> dict[str, Any]:
    return {"question": question.id, "assignment": question.assignment, "title": question.title, "points": 0.0,
            "max_points": question.points, "passed": 0, "total": 0, "status": "not graded", "seconds": 0.0,
            "feedback": f"[{question.id}] {question.title}: 0/{question.points:g} points ({why})"}


def _find_report(cell, nonce: str) -> dict[str, Any] | None:
    for o in cell.get("outputs", []):
        data = o.get("data", {}) if o.get("output_type") in ("display_data", "execute_result") else {}
        if GRADE_MIME in data:
            payload = data[GRADE_MIME]
            if isinstance(payload, str):
                try:
                    payload = json.loads(payload)
                except ValueError:
                    continue
            if isinstance(payload, dict) and payload.get("nonce") == nonce:
                return payload
    return None


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
