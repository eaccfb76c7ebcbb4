"""The book's notebooks are stored clean and follow the book's conventions (issue 7).

Running them is nbval's job (``pytest --nbval-lax book`` in ``scripts/test.sh``); these tests check
what must hold for every notebook in ``book/`` without running anything: stored without outputs or
execution counts, valid nbformat, the ``python3`` kernel (the one nbval starts from the venv), quick
mode honoured, a "Learning goals" heading, a "Check your understanding" section, and a line in
``book/README.md``.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

BOOK = Path(__file__).resolve().parents[1] / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
IDS = [p.name for p in NOTEBOOKS]


def _read(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


def _headings(nb) -> list[str]:
    out = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            out += [line.lstrip("#").strip() for line in cell.source.splitlines() if re.match(r"#{1,6}\s", line)]
    return out


def test_the_book_has_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {BOOK}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_parses_and_uses_the_python3_kernel(path):
    nb = _read(path)
    assert nb.nbformat == 4
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: kernelspec must be 'python3' (the kernel nbval runs), got {nb.metadata.get('kernelspec')}")
    assert re.match(r"\d\d_[a-z0-9_]+\.ipynb$", path.name), f"{path.name}: name notebooks NN_topic.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_stored_without_outputs(path):
    nb = _read(path)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} have outputs or execution counts; clear them before "
                       f"committing (JupyterLab: Edit -> Clear Outputs of All Cells)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_has_learning_goals_and_check_your_understanding(path):
    nb = _read(path)
    headings = [h.lower() for h in _headings(nb)]
    assert any(h.startswith("learning goals") for h in headings), f"{path.name}: no 'Learning goals' heading"
    assert any(h.startswith("check your understanding") for h in headings), (
        f"{path.name}: no 'Check your understanding' heading")
    top = [c for c in nb.cells[:3] if c.cell_type == "markdown"]
    assert any(re.search(r"^#{1,6}\s+learning goals", c.source, re.I | re.M) for c in top), (
        f"{path.name}: the learning goals belong at the top (in the first three cells)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_honours_quick_mode(path):
    code = "\n".join(c.source for c in _read(path).cells if c.cell_type == "code")
    assert "MAMBA_EDU_QUICK" in code, f"{path.name}: read MAMBA_EDU_QUICK (quick mode) in a code cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_listed_in_the_book_readme(path):
    readme = (BOOK / "README.md").read_text(encoding="utf-8")
    assert path.name in readme, f"{path.name}: add it to book/README.md (reading order and run times)"
