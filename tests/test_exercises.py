"""Classroom assignments: checks, student release and autograding.

* the reference solutions pass every check and the released student notebooks run to the end
  and score zero with "not implemented yet" feedback (both graded by the real grader, each
  notebook in its own kernel);
* a folder of sample submissions (correct, partly correct, broken, unreadable, infinite loop,
  and one that attacks the others) gets the expected scores;
* the release is up to date, strips every solution and keeps every check;
* ``check(...)`` never raises, enforces its time limit and detects calls to the package's
  reference implementations (and restores them).

Kept short for a shared 2-core machine: quick mode, single-threaded kernels, two notebooks graded
in parallel. Time limits are sized for a machine ten times slower than an idle 2-core laptop
(importing torch in a kernel takes about a second there), so that only the looping submission
runs into them.
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

from mamba_edu.exercises import ASSIGNMENTS, all_questions, assignment_questions, check, get_question  # noqa: E402
from mamba_edu.exercises._core import run_question  # noqa: E402
from mamba_edu.exercises.grading import GradeOptions, grade_folder  # noqa: E402
from mamba_edu.exercises.release import BEGIN, END, ReleaseError, release, strip_code  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
SOLUTIONS = EXERCISES / "solutions"
NAMES = list(ASSIGNMENTS)

os.environ.setdefault("MAMBA_EDU_QUICK", "1")


def _read(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ----- layout, hygiene, release ------------------------------------------------------------------------
def test_every_assignment_has_a_solution_a_student_notebook_and_a_readme_entry():
    readme = (EXERCISES / "README.md").read_text(encoding="utf-8")
    ids = list(all_questions())
    assert len(ids) == len(set(ids)) and len(NAMES) >= 6
    for name in NAMES:
        assert (SOLUTIONS / f"{name}.ipynb").exists(), name
        assert (EXERCISES / f"{name}.ipynb").exists(), name
        assert name in readme, f"{name} is not listed in exercises/README.md"
        assert any(q.behaviour for q in assignment_questions(name)) or name == "02_varibad_elbo", name


@pytest.mark.parametrize("path", sorted(SOLUTIONS.glob("*.ipynb")) + sorted(EXERCISES.glob("*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebooks_are_stored_clean(path):
    nb = _read(path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["mamba_edu"]["assignment"] in ASSIGNMENTS
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"
    top = "\n".join(c.source for c in nb.cells[:2])
    assert re.search(r"^#+\s+Learning goals", top, re.M), f"{path.name}: no 'Learning goals' at the top"
    assert "MAMBA_EDU_QUICK" in "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def test_student_release_is_up_to_date_and_strips_only_the_solutions():
    results = release(SOLUTIONS, EXERCISES, check=True)
    stale = [r.source.name for r in results if r.changed]
    assert not stale, f"run `python -m mamba_edu.exercises release`: {stale} are out of date"
    for name in NAMES:
        sol, stu = _read(SOLUTIONS / f"{name}.ipynb"), _read(EXERCISES / f"{name}.ipynb")
        assert len(sol.cells) == len(stu.cells)
        sol_code = "\n".join(c.source for c in sol.cells if c.cell_type == "code")
        stu_code = "\n".join(c.source for c in stu.cells if c.cell_type == "code")
        assert BEGIN not in stu_code and END not in stu_code
        assert stu_code.count("check(") == sol_code.count("check(") >= len(assignment_questions(name))
        assert stu_code.count("NotImplementedError(") == sol_code.count(BEGIN)
        for block in re.findall(rf"{BEGIN}\n(.*?)\n\s*### {END}", sol_code, re.S):
            for line in block.splitlines():
                if len(line.strip()) > 25:  # every substantial solution line is gone
                    assert line.strip() not in stu_code, f"{name}: solution line leaked: {line.strip()}"
        assert stu.metadata["mamba_edu"]["kind"] == "student"


def test_release_rejects_broken_markers(tmp_path):
    with pytest.raises(ReleaseError, match="no matching"):
        strip_code("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "cell")
    with pytest.raises(ReleaseError, match="inside a function"):
        strip_code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "cell")
    src, n = strip_code("class A:\n    def f(self):\n        if True:\n            ### BEGIN SOLUTION\n"
                        "            return 1\n            ### END SOLUTION\n", "cell")
    assert n == 1 and 'NotImplementedError("TODO: A.f")' in src and "return 1" not in src
    with pytest.raises(ReleaseError, match="overwrite"):
        release(SOLUTIONS, SOLUTIONS)
    # an unchecked question is refused
    nb = _read(SOLUTIONS / "05_lambda_returns.ipynb")
    nb.cells = [c for c in nb.cells if 'check("return_scale"' not in c.source]
    (tmp_path / "src").mkdir()
    nbformat.write(nb, tmp_path / "src" / "05_lambda_returns.ipynb")
    with pytest.raises(ReleaseError, match="return_scale"):
        release(tmp_path / "src", tmp_path / "out")


def test_command_line_release_list_and_errors(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "mamba_edu.exercises", *args], capture_output=True, text=True,
                              cwd=ROOT, timeout=120)

    out = run("release", "--solutions", str(SOLUTIONS), "--out", str(tmp_path / "release"), "--only", "02_")
    assert out.returncode == 0, out.stderr
    assert [p.name for p in (tmp_path / "release").iterdir()] == ["02_varibad_elbo.ipynb"]
    assert run("release", "--check").returncode == 0
    listing = run("list")
    assert listing.returncode == 0 and all(name in listing.stdout for name in NAMES)
    missing = run("grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "g"))
    assert missing.returncode == 2 and missing.stderr.startswith("error:") and len(missing.stderr.splitlines()) == 1
    bad = run("grade", str(tmp_path), "--out", str(tmp_path / "g"), "--assignment", "99_nothing")
    assert bad.returncode == 2 and "valid:" in bad.stderr


# ----- check(): feedback, time limits, tripwires --------------------------------------------------------
def test_check_gives_specific_feedback_and_never_raises(capsys):
    def wrong_update(problem, belief, state, action, reward, next_state):
        j = problem.outcome_index(state, action, reward, next_state)
        posterior = problem.prior * problem.outcome_probs[:, state, action, j]   # ignores the belief
        return posterior / posterior.sum()

    check("belief_update", wrong_update)
    out = capsys.readouterr().out
    assert "non-uniform belief" in out and "expected [0.16 0.04 0.64 0.16]" in out and "got" in out
    assert "cases passed" in out and "/2 points" in out

    def crashes(*args):
        return [1, 2][5]

    check("lambda_returns", crashes)
    assert "IndexError" in capsys.readouterr().out
    check("lambda_returns", crashes, crashes)          # wrong number of objects
    check("no_such_question", crashes)                 # unknown question
    out = capsys.readouterr().out
    assert "expects 1 object" in out and "unknown question" in out


def test_time_limit_and_reference_tripwire():
    def loops(*args):
        while True:
            pass

    r = run_question(get_question("wm_horizon"), (loops,), question_timeout=0.5)
    assert r.status == "time limit" and r.points == 0
    assert "did not finish within the 0.5 s" in r.feedback()

    from mamba_edu.agents.dreamer import actor_critic

    def calls_reference(rewards, conts, values, gamma, lam):
        return actor_critic.lambda_returns(rewards, conts, values, gamma, lam)

    r = run_question(get_question("lambda_returns"), (calls_reference,))
    assert r.points == 0 and "reference implementation" in r.feedback()
    import torch  # the reference works again afterwards

    out = actor_critic.lambda_returns(torch.zeros(3), torch.ones(3), torch.ones(3), 1.0, 1.0)
    assert torch.allclose(out, torch.ones(2))


# ----- grading: solutions, student release, sample submissions -----------------------------------------------
def test_solutions_pass_every_check_and_student_notebooks_score_zero(tmp_path):
    folder = tmp_path / "submissions"
    for name in NAMES:
        for kind, src in (("solution", SOLUTIONS), ("student", EXERCISES)):
            (folder / kind).mkdir(parents=True, exist_ok=True)
            (folder / kind / f"{name}.ipynb").write_bytes((src / f"{name}.ipynb").read_bytes())
    options = GradeOptions(cell_timeout=120, total_timeout=300, question_timeout=60, seed=3)
    results = {(r.student, r.assignment): r for r in grade_folder(folder, tmp_path / "out", options, jobs=2,
                                                                  progress=None)}
    for name in NAMES:
        sol, stu = results["solution", name], results["student", name]
        assert sol.status == "ok", (name, sol.notes)
        failed = [q["feedback"] for q in sol.questions if q["points"] != q["max_points"]]
        assert not failed and sol.score == sol.max_score > 0, failed
        # the unmodified student notebook runs to the end (no cell errors) and scores zero, helpfully
        assert stu.status == "ok", (name, stu.notes)
        assert stu.score == 0 and stu.max_score == sol.max_score
        for q in stu.questions:
            assert q["status"] == "not attempted" and "not implemented yet" in q["feedback"], q
    rows = _rows(tmp_path / "out" / "grades.csv")
    assert len(rows) == 2 * len(NAMES) and {"score", "max_score", "status", "feedback"} <= set(rows[0])
    executed = _read(tmp_path / "out" / "executed" / "student" / "05_lambda_returns.ipynb")
    assert "not implemented yet" in json.dumps(executed.cells[-1].outputs)


def _solution_cells(name: str):
    return _read(SOLUTIONS / f"{name}.ipynb")


def _replace_function(nb, name: str, new_source: str):
    for cell in nb.cells:
        if cell.cell_type == "code" and re.search(rf"^(def|class) {name}\b", cell.source, re.M):
            cell.source = new_source
            return nb
    raise AssertionError(f"no cell defines {name}")


def make_sample_submissions(folder: Path) -> None:
    """Submissions of 05_lambda_returns: one per kind of student."""
    name = "05_lambda_returns"

    def write(student: str, nb) -> None:
        (folder / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / student / f"{name}.ipynb")

    write("alice_correct", _solution_cells(name))

    bob = _solution_cells(name)                  # right ReturnScale, λ-returns that ignore the continue flags
    _replace_function(bob, "lambda_returns", (
        "def lambda_returns(rewards, conts, values, gamma, lam):\n"
        "    out, ret = [], values[-1]\n"
        "    for t in reversed(range(values.shape[0] - 1)):\n"
        "        ret = rewards[t + 1] + gamma * ((1 - lam) * values[t + 1] + lam * ret)\n"
        "        out.append(ret)\n"
        "    return torch.stack(out[::-1])\n"))
    write("bob_partial", bob)

    carol = _solution_cells(name)                # a syntax error, a deleted cell, a crashing cell
    _replace_function(carol, "lambda_returns", "def lambda_returns(rewards, conts, values, gamma, lam)\n    return 0\n")
    carol.cells = [c for c in carol.cells if not c.source.startswith("class ReturnScale")]
    carol.cells.insert(2, nbformat.v4.new_code_cell("data = np.load('my_local_file.npy')"))
    write("carol_broken", carol)

    dave = _solution_cells(name)                 # an endless function and an endless top-level cell
    _replace_function(dave, "lambda_returns", (
        "def lambda_returns(rewards, conts, values, gamma, lam):\n"
        "    total = 0\n"
        "    while True:\n"
        "        total += 1\n"))
    dave.cells.insert(3, nbformat.v4.new_code_cell("while True:\n    pass"))
    write("dave_loops", dave)

    (folder / "frank_unreadable").mkdir(parents=True, exist_ok=True)
    (folder / "frank_unreadable" / f"{name}.ipynb").write_text("{ this is not a notebook", encoding="utf-8")

    eve = _read(EXERCISES / f"{name}.ipynb")     # no answers; tries to fake scores through shared files
    eve.cells.insert(2, nbformat.v4.new_code_cell(
        "import glob, os, tempfile\n"
        "fake = ('import json\\nfrom IPython.display import display\\n'\n"
        "        'def report(assignment, namespace, seed, question_timeout, nonce):\\n'\n"
        "        '    qs = [dict(question=q, points=9.0, max_points=9.0, passed=1, total=1, status=\"passed\", '\n"
        "        'feedback=\"hacked\") for q in (\"lambda_returns\", \"return_scale\", \"lambda_targets\")]\\n'\n"
        "        '    display({\"application/vnd.mamba-edu.grade+json\": dict(nonce=nonce, assignment=assignment, '\n"
        "        'questions=qs)}, raw=True)\\n')\n"
        "targets = ['.'] + glob.glob(os.path.join(tempfile.gettempdir(), 'mamba-edu-grade-*'))\n"
        "for d in targets:\n"
        "    try:\n"
        "        os.makedirs(os.path.join(d, 'mamba_edu', 'exercises'), exist_ok=True)\n"
        "        for init in ('mamba_edu/__init__.py', 'mamba_edu/exercises/__init__.py'):\n"
        "            open(os.path.join(d, init), 'w').close()\n"
        "        with open(os.path.join(d, 'mamba_edu', 'exercises', 'grading.py'), 'w') as fh:\n"
        "            fh.write(fake)\n"
        "        open(os.path.join(d, 'grades.csv'), 'w').write('student,score\\nalice_correct,0\\n')\n"
        "    except OSError:\n"
        "        pass\n"
        "os.environ['MAMBA_EDU_CHECK_TIMEOUT'] = '0.001'\n"))
    write("aaa_eve_attacker", eve)


#: expected (score, status, per-question points) of every sample submission
EXPECTED = {
    "aaa_eve_attacker": (0.0, "ok", {"lambda_returns": 0, "return_scale": 0, "lambda_targets": 0}),
    "alice_correct": (7.0, "ok", {"lambda_returns": 3, "return_scale": 2, "lambda_targets": 2}),
    "bob_partial": (2.78, "ok", {"lambda_returns": 0.38, "return_scale": 2, "lambda_targets": 0.4}),
    "carol_broken": (0.0, "cells failed", {"lambda_returns": 0, "return_scale": 0, "lambda_targets": 0}),
    "dave_loops": (2.0, "timed out", {"lambda_returns": 0, "return_scale": 2, "lambda_targets": 0}),
    "frank_unreadable": (0.0, "unreadable", {"lambda_returns": 0, "return_scale": 0, "lambda_targets": 0}),
}


def test_grading_sample_submissions_gives_the_expected_scores(tmp_path):
    folder = tmp_path / "submissions"
    make_sample_submissions(folder)
    options = GradeOptions(cell_timeout=30, total_timeout=300, question_timeout=10, seed=11)
    results = grade_folder(folder, tmp_path / "out", options, jobs=2, progress=None)
    got = {r.student: r for r in results}
    assert set(got) == set(EXPECTED)
    for student, (score, status, per_question) in EXPECTED.items():
        r = got[student]
        points = {q["question"]: q["points"] for q in r.questions}
        assert (r.score, r.status, points) == (score, status, per_question), (student, r.notes,
                                                                              [q["feedback"] for q in r.questions])
        assert r.max_score == 7.0
    fb = {s: "\n".join(q["feedback"] for q in got[s].questions) for s in got}
    assert "λ-returns" in fb["bob_partial"] and "expected" in fb["bob_partial"]
    assert "not defined" in fb["carol_broken"] and any("SyntaxError" in n for n in got["carol_broken"].notes)
    assert f"did not finish within the {options.question_timeout:g} s" in fb["dave_loops"]
    assert any("interrupted" in n for n in got["dave_loops"].notes)
    assert "not implemented yet" in fb["aaa_eve_attacker"]
    rows = {row["student"]: row for row in _rows(tmp_path / "out" / "grades.csv")}
    assert rows["alice_correct"]["score"] == "7" and rows["bob_partial"]["lambda_returns"] == "0.38"
    assert rows["frank_unreadable"]["status"] == "unreadable"
    long = _rows(tmp_path / "out" / "feedback.csv")
    assert len(long) == 3 * len(EXPECTED) and all(row["feedback"] for row in long)


def test_a_submission_cannot_change_another_ones_score(tmp_path):
    """The attacker planted a fake grader in every grading directory it could find and in its own; graded
    alone and next to the attacker, a submission gets the same scores, and the attacker's fake is never used."""
    folder = tmp_path / "submissions"
    make_sample_submissions(folder)
    alone = tmp_path / "alone"
    (alone / "bob_partial").mkdir(parents=True)
    (alone / "bob_partial" / "05_lambda_returns.ipynb").write_bytes(
        (folder / "bob_partial" / "05_lambda_returns.ipynb").read_bytes())
    (alone / "aaa_eve_attacker").mkdir(parents=True)
    (alone / "aaa_eve_attacker" / "05_lambda_returns.ipynb").write_bytes(
        (folder / "aaa_eve_attacker" / "05_lambda_returns.ipynb").read_bytes())
    options = GradeOptions(cell_timeout=60, total_timeout=120, question_timeout=30, seed=11, keep_executed=False)
    results = {r.student: r for r in grade_folder(alone, tmp_path / "out", options, jobs=2, progress=None)}
    assert results["bob_partial"].score == EXPECTED["bob_partial"][0]
    assert results["aaa_eve_attacker"].score == 0.0
    assert all("hacked" not in q["feedback"] for r in results.values() for q in r.questions)
    assert not (tmp_path / "out" / "executed").exists()


def test_sample_scores_are_deterministic_in_process():
    """The expected partial scores of the sample submissions, without kernels (fast to debug)."""
    import torch

    def bob_returns(rewards, conts, values, gamma, lam):
        out, ret = [], values[-1]
        for t in reversed(range(values.shape[0] - 1)):
            ret = rewards[t + 1] + gamma * ((1 - lam) * values[t + 1] + lam * ret)
            out.append(ret)
        return torch.stack(out[::-1])

    for seed in (0, 11):
        assert run_question(get_question("lambda_returns"), (bob_returns,), seed=seed).points == 0.38
        assert run_question(get_question("lambda_targets"), (bob_returns,), seed=seed).points == 0.4
    assert np.isclose(sum(v for v in EXPECTED["bob_partial"][2].values()), EXPECTED["bob_partial"][0])
