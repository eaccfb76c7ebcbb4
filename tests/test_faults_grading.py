"""Fault injection for the grader: submissions that try to forge their score, hold the grader, or exhaust memory.

* a notebook that replaces the grader's functions and the checks in its own kernel, and answers
  nothing, scores 0 of 7 (the scores are computed in the grader's process);
* code that swallows ``KeyboardInterrupt`` (in a top-level cell, or in a function the checks
  call) gets its kernel killed a short grace period after the interrupt, so the grader is held
  for a bounded time;
* a cell that asks for far more memory than the kernel may have fails with ``MemoryError`` in
  that cell, and the rest of the notebook is graded as usual.

Time limits are sized for a machine ten times slower than an idle 2-core laptop; the bounds on
how long a submission may hold the grader leave room for starting a kernel on such a machine.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

from mamba_edu.exercises.grading import GradeOptions, grade_folder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "05_lambda_returns"
MAX_SCORE = 7.0
#: seconds a kernel may need to start, import and shut down on a slow, busy machine (beyond the time limits)
SLOW_MACHINE_ALLOWANCE = 75.0


def _notebook(cells: list[str]):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["mamba_edu"] = {"assignment": ASSIGNMENT, "kind": "student"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    return nb


def _grade_one(tmp_path: Path, nb, options: GradeOptions):
    folder = tmp_path / "submissions" / "mallory"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
    start = time.monotonic()
    (result,) = grade_folder(tmp_path / "submissions", tmp_path / "out", options, progress=None)
    return result, time.monotonic() - start


FORGE = '''
import sys
from IPython.display import display
import mamba_edu.exercises.grading as grading
from mamba_edu.exercises import assignment_questions
from mamba_edu.exercises._core import Case, CaseResult, CheckResult

QUESTIONS = assignment_questions("05_lambda_returns")

def full_marks(q):
    return CheckResult(q.id, q.assignment, q.title, q.points, [CaseResult("forged", "pass")], "passed")

def report(assignment, namespace, seed, question_timeout, nonce, *args, **kwargs):
    rows = [full_marks(q).as_dict() for q in QUESTIONS]
    display({"application/vnd.mamba-edu.grade+json": dict(nonce=nonce, assignment=assignment, questions=rows)},
            raw=True)

grading.report = report                                  # the grader's function in this kernel
for q in QUESTIONS:                                      # every check passes, whatever it is given
    q.build = lambda ctx, *objects: [Case("forged", lambda: None)]
for name, module in list(sys.modules.items()):           # every scoring function gives full marks
    if name.startswith("mamba_edu.exercises") and hasattr(module, "run_question"):
        module.run_question = lambda question, *args, **kwargs: full_marks(question)
try:                                                     # and every answer is "passed"
    from mamba_edu.exercises import answers
    answers.Answers.call = lambda self, request: {"kind": "value", "value": "passed", "args": None}
except ImportError:
    pass
'''


def test_a_notebook_that_replaces_the_checks_in_its_kernel_scores_nothing(tmp_path):
    student = nbformat.read(ROOT / "exercises" / f"{ASSIGNMENT}.ipynb", as_version=4)
    student.cells.insert(2, nbformat.v4.new_code_cell(FORGE))
    options = GradeOptions(cell_timeout=30, total_timeout=300, question_timeout=10, seed=5)
    r, _ = _grade_one(tmp_path, student, options)
    feedback = "\n".join(q["feedback"] for q in r.questions)
    assert (r.score, r.max_score) == (0.0, MAX_SCORE), (r.status, r.notes, feedback)
    assert all(q["points"] == 0 for q in r.questions) and len(r.questions) == 3
    assert "forged" not in feedback, feedback


SWALLOWING_CELL = ("import time\n"
                   "while True:\n"
                   "    try:\n"
                   "        time.sleep(0.05)\n"
                   "    except KeyboardInterrupt:\n"
                   "        pass\n")
SWALLOWING_FUNCTION = ("import time\n"
                       "def lambda_returns(rewards, conts, values, gamma, lam):\n"
                       "    while True:\n"
                       "        try:\n"
                       "            time.sleep(0.05)\n"
                       "        except BaseException:   # swallows the time limit and the interrupt\n"
                       "            pass\n")


@pytest.mark.parametrize("where, cells", [
    ("cell", ["import time", SWALLOWING_CELL, "x = 1"]),
    ("check", [SWALLOWING_FUNCTION]),
], ids=["top-level cell", "function called by a check"])
def test_code_that_swallows_interrupts_is_killed_within_a_bounded_time(tmp_path, where, cells):
    options = GradeOptions(cell_timeout=5, total_timeout=120, question_timeout=5, seed=5)
    grace = getattr(options, "interrupt_grace", 10.0)
    r, seconds = _grade_one(tmp_path, _notebook(cells), options)
    limit = options.cell_timeout if where == "cell" else options.question_timeout
    assert seconds < limit + grace + SLOW_MACHINE_ALLOWANCE, (seconds, r.status, r.notes)
    assert r.status == "timed out", (r.status, r.notes)
    assert any("ignored the interrupt" in n for n in r.notes), r.notes
    assert r.score == 0.0 and r.max_score == MAX_SCORE
    if where == "check":
        first = r.questions[0]
        assert first["question"] == "lambda_returns" and first["status"] == "time limit", first
        assert all(q["status"] == "not graded" for q in r.questions[1:]), r.questions


def test_a_cell_that_allocates_far_too_much_memory_fails_cleanly(tmp_path):
    solution = nbformat.read(ROOT / "exercises" / "solutions" / f"{ASSIGNMENT}.ipynb", as_version=4)
    solution.cells.insert(2, nbformat.v4.new_code_cell("import numpy\n"
                                                       "big = numpy.empty(16 * 2**30, dtype=numpy.uint8)   # 16 GiB"))
    options = GradeOptions(cell_timeout=30, total_timeout=300, question_timeout=10, seed=5)
    r, _ = _grade_one(tmp_path, solution, options)
    assert r.status == "cells failed", (r.status, r.notes)
    assert any(n.startswith("cell 2: MemoryError") for n in r.notes), r.notes
    # the kernel survived the failed allocation and the rest of the notebook was graded
    assert r.score == r.max_score == MAX_SCORE, [q["feedback"] for q in r.questions]


def test_an_answer_is_read_as_plain_values_and_cannot_run_code_in_the_grader():
    """The kernel's answers are decoded into values only: a pickle, an object array or a malformed answer is refused."""
    import base64
    import json
    import pickle
    import socket

    import numpy as np
    import torch

    from mamba_edu.exercises.wire import Decoder, Encoder, MessageReader, WireError, dumps, loads

    decoder = Decoder(lambda handle, type_name: ("remote", handle, type_name))
    value = {"r": torch.arange(3), "s": np.float32(0.5), 3: (np.zeros(()), float("nan"), [True, None, "x"])}
    handles: list = []
    back = decoder.decode(loads(dumps({"v": Encoder(handles).encode(value)}))["v"])
    assert back["r"].dtype == torch.int64 and back["r"].tolist() == [0, 1, 2]
    assert isinstance(back["s"], np.float32) and back[3][0].shape == () and np.isnan(back[3][1])
    assert back[3][2] == [True, None, "x"]
    assert decoder.decode(Encoder(handles).encode(object())) == ("remote", len(handles) - 1, "object")

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('the grader ran code from a kernel')",))

    def array(dtype: str, shape: list, data: bytes) -> dict:
        return {"__ndarray__": {"dtype": dtype, "shape": shape, "data": base64.b64encode(data).decode()}}

    for hostile in (pickle.dumps(Boom()), b"[" * 200_000, b"\xff\xfe"):
        with pytest.raises(WireError):
            loads(hostile)
    for hostile in (array("|O", [1], b"\0" * 8), array("i4,f8", [1], b"\0" * 12), array("<f8", [2], b"\0" * 8),
                    {"__reduce__": ["os.system", "true"]}, {"a": 1}):
        with pytest.raises(WireError):
            decoder.decode(json.loads(json.dumps(hostile)))
    left, right = socket.socketpair()
    with left, right:
        left.sendall((2**40).to_bytes(8, "big"))
        with pytest.raises(WireError):
            MessageReader(right).read()
