"""Functions that fit on a screen: no function or method of the package is longer than MAX_LINES.

Generous on purpose (the longest are the exercises' tables of hand-worked cases, under 90 lines): a guard
against regressions, not a style rule. A function's length counts its lines from ``def`` to its last line,
docstring included.
"""
import ast
from pathlib import Path

import mamba_edu

MAX_LINES = 90
PACKAGE = Path(mamba_edu.__file__).parent


def _function_lengths():
    """(length, "path:line name") of every function and method in the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"
                yield node.end_lineno - node.lineno + 1, where


def test_no_function_is_longer_than_a_screen():
    lengths = list(_function_lengths())
    assert len(lengths) > 100                                   # the walk found the package
    offenders = sorted((n, where) for n, where in lengths if n > MAX_LINES)
    assert not offenders, f"functions longer than {MAX_LINES} lines (split them into named steps): " + "; ".join(
        f"{where} ({n} lines)" for n, where in reversed(offenders))
