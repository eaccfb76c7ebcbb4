"""Build the student notebooks from the reference solutions (``python -m mamba_edu.exercises release``).

The instructor edits only the solution notebooks (``exercises/solutions/NN_topic.ipynb``). In
their code cells, each part the students must write sits between two marker lines::

    def belief_update(problem, belief, state, action, reward, next_state):
        \"\"\"...\"\"\"
        ### BEGIN SOLUTION
        ...reference code...
        ### END SOLUTION

The release replaces every such block by a stub at the marker's indentation::

        # TODO: your code here
        raise NotImplementedError("TODO: belief_update")

(the name is that of the enclosing ``def``/``class``), so that the released notebook still runs
from top to bottom and each ``check(...)`` reports "not implemented yet". Markdown cells may hold
written model answers between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``; they
become "*Your answer here.*". A code cell tagged ``solution`` is replaced as a whole by a TODO
comment. Everything else (explanations, ``check(...)`` calls, demos) is copied unchanged;
outputs and execution counts are cleared.

Checks made while releasing: every BEGIN has its END, no marker survives, the notebook names a
known assignment (metadata ``mamba_edu.assignment`` or the file name), and every question of that
assignment is checked by a ``check("question", ...)`` call somewhere in the notebook.

The book (``book/NN_topic.ipynb``) uses the same markers for the worked answers to its "Check your
understanding" questions: the instructor's copy is the book as committed (the answers sit between
``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` in a Markdown cell; the two comment lines
do not show when the cell is rendered). :func:`book_student_version` and :func:`release_book` make
the students' copy, where each block becomes :data:`BOOK_ANSWER_STUB` (code cells tagged
``solution`` become a TODO comment, as in the exercises; outputs are cleared)::

    python -m mamba_edu.exercises.release --book book --out student_book          # or --check
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

BEGIN, END = "BEGIN SOLUTION", "END SOLUTION"
ANSWER_STUB = "*Your answer here.*"
#: what replaces the worked answers in the students' copy of the book
BOOK_ANSWER_STUB = ("*Write your own answers first. The worked answers are in the instructor's copy of the book "
                    "(ask your instructor).*")
_DEF = re.compile(r"^\s*(?:async\s+)?(def|class)\s+([A-Za-z_]\w*)")


class ReleaseError(ValueError):
    """A solution notebook cannot be released (the message says which cell and why)."""


@dataclass
class Released:
    source: Path
    target: Path
    assignment: str
    n_stubs: int
    changed: bool


def assignment_of(nb, path: Path) -> str | None:
    """The assignment a notebook belongs to: its metadata, else a known id in its file name."""
    from mamba_edu.exercises import ASSIGNMENTS

    name = (nb.get("metadata", {}).get("mamba_edu", {}) or {}).get("assignment")
    if name in ASSIGNMENTS:
        return name
    for known in ASSIGNMENTS:
        if known in path.name:
            return known
    return None


def _enclosing_class(lines: list[str], index: int, indent: int) -> str | None:
    for k in range(index - 1, -1, -1):
        line = lines[k]
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            m = _DEF.match(line)
            return m.group(2) if m and m.group(1) == "class" else None
    return None


def _enclosing_function(lines: list[str], index: int, indent: int) -> str | None:
    """Name of the ``def`` whose body line ``index`` (indented by ``indent``) belongs to, else None
    (``Class.method`` for methods)."""
    for k in range(index - 1, -1, -1):
        line = lines[k]
        if not line.strip():
            continue
        own = len(line) - len(line.lstrip())
        if own < indent:
            m = _DEF.match(line)
            if m:
                if m.group(1) != "def":
                    return None
                owner = _enclosing_class(lines, k, own) if own else None
                return f"{owner}.{m.group(2)}" if owner else m.group(2)
            if not line.lstrip().startswith(("#", "@")):
                indent = own  # a block inside the function (if/for/with): keep looking outwards
    return None


def strip_code(source: str, where: str) -> tuple[str, int]:
    """Replace the solution blocks of one code cell by stubs; returns (new source, number of stubs)."""
    lines = source.split("\n")
    out: list[str] = []
    i, n = 0, 0
    while i < len(lines):
        line = lines[i]
        if END in line and BEGIN not in line:
            raise ReleaseError(f"{where}, line {i + 1}: '{END}' without a '{BEGIN}' before it")
        if BEGIN not in line:
            out.append(line)
            i += 1
            continue
        indent_str = line[: len(line) - len(line.lstrip())]
        j = i + 1
        while j < len(lines) and END not in lines[j]:
            if BEGIN in lines[j]:
                raise ReleaseError(f"{where}, line {j + 1}: a second '{BEGIN}' before the '{END}' of line {i + 1}")
            j += 1
        if j == len(lines):
            raise ReleaseError(f"{where}, line {i + 1}: '{BEGIN}' has no matching '{END}'")
        name = _enclosing_function(lines, i, len(indent_str)) if indent_str else None
        if name is None:
            raise ReleaseError(f"{where}, line {i + 1}: a solution block must sit inside a function body (its stub "
                               f"raises NotImplementedError, which must happen when the function is called, not "
                               f"when the cell runs)")
        out.append(f"{indent_str}# TODO: your code here")
        out.append(f'{indent_str}raise NotImplementedError("TODO: {name}")')
        n += 1
        i = j + 1
    return "\n".join(out), n


def strip_markdown(source: str, where: str, stub: str = ANSWER_STUB) -> tuple[str, int]:
    lines = source.split("\n")
    out: list[str] = []
    i, n = 0, 0
    while i < len(lines):
        if BEGIN not in lines[i]:
            if END in lines[i]:
                raise ReleaseError(f"{where}, line {i + 1}: '{END}' without a '{BEGIN}' before it")
            out.append(lines[i])
            i += 1
            continue
        j = i + 1
        while j < len(lines) and END not in lines[j]:
            j += 1
        if j == len(lines):
            raise ReleaseError(f"{where}, line {i + 1}: '{BEGIN}' has no matching '{END}'")
        out.append(stub)
        n += 1
        i = j + 1
    return "\n".join(out), n


def student_version(nb, path: Path):
    """The student notebook built from solution notebook ``nb`` (a new object), and the number of stubs."""
    from mamba_edu.exercises import assignment_questions

    assignment = assignment_of(nb, path)
    if assignment is None:
        raise ReleaseError(f"{path.name}: unknown assignment; set metadata mamba_edu.assignment or name the file "
                           f"after the assignment (NN_topic.ipynb)")
    out = copy.deepcopy(nb)
    n_stubs = 0
    for k, cell in enumerate(out.cells):
        where = f"{path.name}, cell {k}"
        if cell.cell_type == "code":
            if "solution" in cell.get("metadata", {}).get("tags", []):
                cell.source = "# TODO: write this cell"
                cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "solution"]
                n_stubs += 1
            else:
                cell.source, n = strip_code(cell.source, where)
                n_stubs += n
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source, n = strip_markdown(cell.source, where)
            n_stubs += n
        if BEGIN in cell.source or END in cell.source:  # pragma: no cover - guarded above
            raise ReleaseError(f"{where}: a solution marker survived the release")
    code = "\n".join(c.source for c in out.cells if c.cell_type == "code")
    missing = [q.id for q in assignment_questions(assignment)
               if not re.search(r"check\(\s*['\"]" + re.escape(q.id) + r"['\"]", code)]
    if missing:
        raise ReleaseError(f"{path.name}: no check(...) call for question(s) {missing} of {assignment}")
    if n_stubs == 0:
        raise ReleaseError(f"{path.name}: no '{BEGIN}' blocks: nothing for the students to do")
    meta = dict(out.metadata.get("mamba_edu", {}) or {})
    meta.update(assignment=assignment, kind="student")
    out.metadata["mamba_edu"] = meta
    return out, n_stubs


def release(solutions: Path, out_dir: Path, only: list[str] | None = None, check: bool = False) -> list[Released]:
    """Write (or, with ``check``, compare) the student notebook of every solution notebook in ``solutions``."""
    import nbformat

    solutions, out_dir = Path(solutions), Path(out_dir)
    paths = _notebooks_to_release(solutions, out_dir, only, "solutions", "solution notebook",
                                  "it would overwrite them")
    results = []
    for path in paths:
        student, n = student_version(nbformat.read(path, as_version=4), path)
        target, changed = _write_if_changed(student, out_dir / path.name, check)
        results.append(Released(path, target, student.metadata["mamba_edu"]["assignment"], n, changed))
    return results


def _notebooks_to_release(folder: Path, out_dir: Path, only: list[str] | None, what: str, item: str,
                          why: str) -> list[Path]:
    """The ``*.ipynb`` of ``folder`` to release (those whose name contains one of ``only``, if given), with
    one clear error for a missing folder, an output folder equal to it, or nothing to release."""
    if not folder.is_dir():
        raise ReleaseError(f"{what} folder {folder} does not exist")
    if out_dir.resolve() == folder.resolve():
        raise ReleaseError(f"the output folder must differ from the {what} folder ({why})")
    paths = sorted(folder.glob("*.ipynb"))
    if only:
        paths = [p for p in paths if any(name in p.name for name in only)]
        if not paths:
            raise ReleaseError(f"no {item} in {folder} matches {only}")
    if not paths:
        raise ReleaseError(f"no .ipynb files in {folder}")
    return paths


def _write_if_changed(nb, target: Path, check: bool) -> tuple[Path, bool]:
    """Write notebook ``nb`` to ``target`` unless it already holds exactly that text (or ``check``: only
    compare). Returns (target, whether it differed)."""
    import nbformat

    text = nbformat.writes(nb)
    if not text.endswith("\n"):
        text += "\n"
    old = target.read_text(encoding="utf-8") if target.exists() else None
    changed = old != text
    if not check and changed:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return target, changed


# ----- the book ---------------------------------------------------------------------------------------------

def book_student_version(nb, path: Path):
    """The students' copy of book notebook ``nb`` (a new object) and the number of answer blocks hidden.

    Every ``BEGIN``/``END SOLUTION`` block of a Markdown cell becomes :data:`BOOK_ANSWER_STUB`, a code
    cell tagged ``solution`` becomes a TODO comment, outputs and execution counts are cleared; the rest
    is copied unchanged. Raises :class:`ReleaseError` for unbalanced markers or a notebook without
    any answers to hide.
    """
    path = Path(path)
    out = copy.deepcopy(nb)
    n_hidden = 0
    for k, cell in enumerate(out.cells):
        where = f"{path.name}, cell {k}"
        if cell.cell_type == "markdown":
            cell.source, n = strip_markdown(cell.source, where, stub=BOOK_ANSWER_STUB)
            n_hidden += n
        elif cell.cell_type == "code":
            if "solution" in cell.get("metadata", {}).get("tags", []):
                cell.source = "# TODO: write this cell"
                cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "solution"]
                n_hidden += 1
            elif BEGIN in cell.source or END in cell.source:
                cell.source, n = strip_code(cell.source, where)
                n_hidden += n
            cell.outputs = []
            cell.execution_count = None
        if BEGIN in cell.source or END in cell.source:  # pragma: no cover - guarded above
            raise ReleaseError(f"{where}: a solution marker survived the release")
    if n_hidden == 0:
        raise ReleaseError(f"{path.name}: no '{BEGIN}' blocks: the notebook has no answers to hide")
    meta = dict(out.metadata.get("mamba_edu", {}) or {})
    meta.update(kind="student")
    out.metadata["mamba_edu"] = meta
    return out, n_hidden


def release_book(book: Path, out_dir: Path, only: list[str] | None = None, check: bool = False) -> list[Released]:
    """Write (or, with ``check``, compare) the students' copy of every notebook of ``book`` into ``out_dir``
    (``Released.assignment`` is the notebook's name, ``n_stubs`` the number of answer blocks hidden)."""
    import nbformat

    book, out_dir = Path(book), Path(out_dir)
    paths = _notebooks_to_release(book, out_dir, only, "book", "notebook", "it would overwrite the answers")
    results = []
    for path in paths:
        student, n = book_student_version(nbformat.read(path, as_version=4), path)
        target, changed = _write_if_changed(student, out_dir / path.name, check)
        results.append(Released(path, target, path.stem, n, changed))
    return results


def main(argv: list[str] | None = None) -> int:
    """``python -m mamba_edu.exercises.release --book BOOK --out DIR [--only NN ...] [--check]``: the students'
    copy of the book (the exercises' release is ``python -m mamba_edu.exercises release``)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m mamba_edu.exercises.release",
                                 description="Write the students' copy of the book, with the worked answers to "
                                             "'Check your understanding' hidden.")
    ap.add_argument("--book", type=Path, default=Path("book"), help="the book's folder (default: book)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the students' copy")
    ap.add_argument("--only", nargs="*", help="only the notebooks whose name contains one of these")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a copy is out of date")
    args = ap.parse_args(argv)
    try:
        results = release_book(args.book, args.out, only=args.only, check=args.check)
    except ReleaseError as e:
        print(f"error: {e}")
        return 2
    for r in results:
        state = ("out of date" if r.changed else "up to date") if args.check else (
            "written" if r.changed else "unchanged")
        print(f"{r.target}: {r.n_stubs} answer block(s) hidden, {state}")
    return 1 if args.check and any(r.changed for r in results) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
