"""Every book notebook ends with worked answers to its "Check your understanding" questions, marked like the
exercises' model answers, and a link to its exercise; the exercises' release tooling strips the answers from
the students' copy (``mamba_edu.exercises.release.book_student_version`` / ``release_book``).

Nothing here runs a notebook.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

from mamba_edu.exercises.release import (  # noqa: E402
    BEGIN,
    BOOK_ANSWER_STUB,
    END,
    ReleaseError,
    book_student_version,
    main,
    release_book,
)

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
IDS = [p.name for p in NOTEBOOKS]


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _cell_index(nb, pattern: str) -> int:
    hits = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and re.search(pattern, c.source, re.M)]
    assert hits, f"no markdown cell matches {pattern!r}"
    return hits[-1]


def _answers(nb) -> tuple[int, str]:
    """(index of the answers cell, the text between the markers)."""
    cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and BEGIN in c.source]
    assert len(cells) == 1, "exactly one answers cell"
    i, cell = cells[0]
    body = cell.source.split(BEGIN, 1)[1].split(END, 1)[0]
    return i, body


def _numbered(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"^(\d+)\.\s", text, re.M)]


def test_the_book_has_notebooks():
    assert len(NOTEBOOKS) >= 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_ends_with_answers_and_a_link_to_its_exercise(path):
    nb = _read(path)
    questions_at = _cell_index(nb, r"^#{1,6}\s+Check your understanding")
    answers_at, answers = _answers(nb)
    assert answers_at > questions_at, "the answers come after the questions"
    questions = nb.cells[questions_at].source.split("Check your understanding", 1)[1]
    questions = re.split(r"^#{1,6}\s", questions, maxsplit=1, flags=re.M)[0]
    n = len(_numbered(questions))
    assert n >= 3 and _numbered(answers) == list(range(1, n + 1)), "one numbered answer per question"
    # the last markdown cells: answers, then "Where next" with a link to an existing exercise notebook
    where_at = _cell_index(nb, r"^#{1,6}\s+Where next")
    assert where_at > answers_at
    assert all(c.cell_type == "code" for c in nb.cells[where_at + 1:]), "Where next is the last markdown cell"
    links = re.findall(r"\]\(\.\./(exercises/\d\d_[a-z0-9_]+\.ipynb)\)", nb.cells[where_at].source)
    assert links, f"{path.name}: no link to its exercise in exercises/"
    assert all((ROOT / link).is_file() for link in links), links


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_release_strips_the_answers_from_a_book_notebook(path):
    nb = _read(path)
    answers_at, answers = _answers(nb)
    student, n = book_student_version(nb, path)
    assert n == 1
    text = "\n".join(c.source for c in student.cells)
    assert BEGIN not in text and END not in text
    assert BOOK_ANSWER_STUB in student.cells[answers_at].source
    # none of the answers' substance survives, everything else is unchanged
    longest_line = max((line.strip() for line in answers.splitlines()), key=len)
    assert longest_line and longest_line not in text
    assert len(student.cells) == len(nb.cells)
    for i, (a, b) in enumerate(zip(nb.cells, student.cells)):
        if i != answers_at:
            assert a.source == b.source and a.cell_type == b.cell_type
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in student.cells if c.cell_type == "code")
    assert student.metadata["mamba_edu"]["kind"] == "student"
    assert BEGIN in nb.cells[answers_at].source                         # the instructor's copy is untouched


def test_release_book_writes_and_checks_the_students_copy(tmp_path, capsys):
    out = tmp_path / "student_book"
    results = release_book(BOOK, out)
    assert {r.target.name for r in results} == set(IDS) and all(r.changed and r.n_stubs == 1 for r in results)
    for r in results:
        written = nbformat.read(r.target, as_version=4)
        assert BOOK_ANSWER_STUB in "\n".join(c.source for c in written.cells)
    assert not any(r.changed for r in release_book(BOOK, out, check=True))
    assert main(["--book", str(BOOK), "--out", str(out), "--check"]) == 0
    (out / IDS[0]).write_text("{}")
    assert main(["--book", str(BOOK), "--out", str(out), "--check", "--only", IDS[0][:2]]) == 1
    assert "out of date" in capsys.readouterr().out
    with pytest.raises(ReleaseError, match="must differ"):
        release_book(BOOK, BOOK)


def test_release_refuses_unbalanced_markers_and_notebooks_without_answers(tmp_path):
    from nbformat.v4 import new_markdown_cell, new_notebook

    nb = new_notebook(cells=[new_markdown_cell("## Check your understanding\n\n1. Why?")])
    with pytest.raises(ReleaseError, match="no answers to hide"):
        book_student_version(nb, tmp_path / "99_x.ipynb")
    nb.cells.append(new_markdown_cell(f"<!-- {BEGIN} -->\n1. Because."))
    with pytest.raises(ReleaseError, match="no matching"):
        book_student_version(nb, tmp_path / "99_x.ipynb")
