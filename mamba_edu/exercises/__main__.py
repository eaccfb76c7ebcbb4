"""Instructor commands: ``python -m mamba_edu.exercises {release,grade,list}``.

* ``release [--solutions DIR] [--out DIR] [--only NAME ...] [--check]`` — build the student
  notebooks from the reference solutions (solution blocks replaced by TODO stubs, checks kept).
  ``--check`` only reports whether the notebooks in ``--out`` are up to date (exit 1 if not).
* ``grade SUBMISSIONS --out DIR [--jobs N] [--seed S] [--cell-timeout S] [--timeout S]
  [--question-timeout S] [--memory-limit GIB] [--interrupt-grace S] [--assignment NAME]`` — run
  every submitted notebook in a fresh kernel and working directory, score it in this process and
  write ``DIR/grades.csv`` (per-question scores with feedback), ``DIR/feedback.csv`` and
  ``DIR/executed/``.
* ``list`` — the assignments and their questions with points.

Bad input prints one line ``error: ...`` and exits with code 2.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _cmd_release(args: argparse.Namespace) -> int:
    from mamba_edu.exercises.release import release

    results = release(Path(args.solutions), Path(args.out), args.only, check=args.check)
    stale = [r for r in results if r.changed]
    for r in results:
        state = ("out of date" if r.changed else "up to date") if args.check else ("written" if r.changed else
                                                                                   "unchanged")
        print(f"{r.source.name} -> {r.target} ({r.assignment}, {r.n_stubs} TODO stubs): {state}")
    if args.check and stale:
        print(f"{len(stale)} student notebook(s) out of date: run `python -m mamba_edu.exercises release "
              f"--solutions {args.solutions} --out {args.out}`")
        return 1
    return 0


def _cmd_grade(args: argparse.Namespace) -> int:
    from mamba_edu.exercises.grading import GradeOptions, grade_folder

    try:
        import nbclient  # noqa: F401
    except ImportError:
        print('error: grading needs nbclient and ipykernel: pip install -e ".[grading]"', file=sys.stderr)
        return 2
    if args.assignment:
        from mamba_edu.exercises import ASSIGNMENTS

        if args.assignment not in ASSIGNMENTS:
            raise ValueError(f"--assignment: unknown assignment {args.assignment!r}; valid: {', '.join(ASSIGNMENTS)}")
    for name in ("cell_timeout", "timeout", "question_timeout", "interrupt_grace"):
        if not getattr(args, name) > 0:
            raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    if not args.memory_limit >= 0:
        raise ValueError(f"--memory-limit must be >= 0 (0: no limit), got {args.memory_limit}")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    options = GradeOptions(cell_timeout=args.cell_timeout, total_timeout=args.timeout,
                           question_timeout=args.question_timeout, seed=args.seed, threads=args.threads,
                           assignment=args.assignment, keep_executed=not args.no_executed,
                           memory_limit=args.memory_limit, interrupt_grace=args.interrupt_grace)
    start = time.perf_counter()
    results = grade_folder(Path(args.submissions), Path(args.out), options, jobs=args.jobs)
    print(f"graded {len(results)} submission(s) in {time.perf_counter() - start:.1f} s -> {Path(args.out) / 'grades.csv'}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from mamba_edu.exercises import ASSIGNMENTS, assignment_questions

    for name in ASSIGNMENTS:
        qs = assignment_questions(name)
        print(f"{name} ({sum(q.points for q in qs):g} points)")
        for q in qs:
            print(f"  {q.id:<22} {q.points:g}  {q.title}  [needs: {', '.join(q.names)}]")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from mamba_edu.exercises.grading import DEFAULT_SEED

    p = argparse.ArgumentParser(prog="python -m mamba_edu.exercises", description="Classroom assignments: build the "
                                "student release and grade submissions (see exercises/README.md).")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("release", help="build the student notebooks from the reference solutions")
    r.add_argument("--solutions", default="exercises/solutions", help="folder of solution notebooks "
                   "(default: exercises/solutions)")
    r.add_argument("--out", default="exercises", help="folder for the student notebooks (default: exercises)")
    r.add_argument("--only", nargs="+", metavar="NAME", help="release only notebooks whose name contains NAME")
    r.add_argument("--check", action="store_true", help="only check that the student notebooks are up to date")
    r.set_defaults(func=_cmd_release)
    g = sub.add_parser("grade", help="grade a folder of submitted notebooks into a CSV")
    g.add_argument("submissions", help="folder with the submitted .ipynb files (any depth; the first folder "
                   "level, if any, names the student)")
    g.add_argument("--out", required=True, help="folder for grades.csv, feedback.csv and executed/")
    g.add_argument("--jobs", type=int, default=1, help="notebooks graded in parallel (default 1)")
    g.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the random test cases (choose your own; "
                   f"default {DEFAULT_SEED})")
    g.add_argument("--cell-timeout", type=float, default=120.0, help="seconds per cell (default 120)")
    g.add_argument("--timeout", type=float, default=900.0, help="seconds for all cells of a notebook (default 900)")
    g.add_argument("--question-timeout", type=float, default=60.0,
                   help="seconds of student code per question inside the checks (default 60)")
    g.add_argument("--memory-limit", type=float, default=4.0, metavar="GIB",
                   help="address space per kernel in GiB, 0 for none (default 4; Linux)")
    g.add_argument("--interrupt-grace", type=float, default=10.0, metavar="S",
                   help="seconds an interrupted kernel gets to stop before it is killed (default 10)")
    g.add_argument("--threads", type=int, default=1, help="math-library threads per kernel (default 1)")
    g.add_argument("--assignment", help="assignment of notebooks that do not say which one they are")
    g.add_argument("--no-executed", action="store_true", help="do not keep the executed notebooks")
    g.set_defaults(func=_cmd_grade)
    lst = sub.add_parser("list", help="list the assignments and their questions")
    lst.set_defaults(func=_cmd_list)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
