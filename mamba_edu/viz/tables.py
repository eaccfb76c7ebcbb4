"""A results table like the paper's Table 1, from run directories, in Markdown or LaTeX.

One row per (environment, algorithm[, variant]) group of runs (grouping as in
:mod:`mamba_edu.viz.curves`), with

* **Ours** — mean ± std over seeds of each run's final return: ``final.json`` (the final test on
  held-out tasks) when the run has one, else the best evaluation row of ``metrics.csv``; the
  *Source* column says which ("final test (N tasks)", "best eval (metrics.csv)", or "mixed");
* **Steps** — env steps trained (the shortest run of the group) and **steps to 90 %**: the first
  env step where the seed-mean learning curve reaches 90 % of the way from its first evaluation to
  its final value (:func:`mamba_edu.viz.curves.convergence_step` explains why from the first
  evaluation and not from zero);
* **Paper** — the paper's number for the same algorithm and environment, mean ± std as printed,
  with the table it comes from, and its steps to convergence as printed (:data:`PAPER`);
* **Reference** — Rooms-N: the exact Bayes-optimal return; PointRobot, PointRobotWind, EscapeRoom:
  the scripted reference policy's return (not a proven optimum); "—" elsewhere.

``python -m mamba_edu table --run DIR [DIR ...] [--format markdown|latex]`` prints it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np

from mamba_edu.viz.curves import (
    CONVERGENCE_FRACTION,
    RunData,
    convergence_step,
    group_labels,
    group_runs,
    mean_curve,
    reference_line,
)


class PaperResult(NamedTuple):
    mean: float | None        #: None where the paper prints "-"
    std: float | None
    steps: str | None         #: steps to convergence as printed ("~6M"), None where not given
    table: str                #: where it is printed


_ALGOS_T1 = ("varibad", "hyperx", "dreamer-vanilla", "dreamer-tune", "mamba")
_NONE = (None, None)

# Rimon, Jurgenson et al. (ICLR 2024), Table 1 (Sec. 4) and Table 5 (App. H), transcribed as printed
# ("PRN" = PointRobot). Table 5 repeats Table 1's numbers and adds RL² and Rooms-7/8.
_T1 = {
    "PointRobot": [(218.0, 26.0), (204.0, 19.9), (241.1, 9.9), (239.7, 3.1), (242.2, 7.9)],
    "Rooms-3": [(158.7, 2.6), (111.8, 20.2), (137.5, 6.2), (142.6, 4.1), (156.2, 1.7)],
    "Rooms-4": [(88.1, 39.2), (14.1, 3.0), (115.0, 6.7), (119.8, 3.1), (136.7, 1.4)],
    "Rooms-5": [(0.9, 2.5), (-15.8, 0.4), (96.5, 2.5), (93.9, 5.3), (113.1, 5.7)],
    "Rooms-6": [(-11.0, 0.9), (-15.7, 0.7), (69.5, 6.3), (71.0, 6.3), (94.5, 1.2)],
    "Reacher-1": [(473.7, 27.5), (505.9, 36.0), (552.0, 27.8), (503.4, 69.0), (655.5, 12.3)],
    "Reacher-2": [(46.6, 33.2), (30.0, 48.5), (247.4, 80.5), (217.6, 64.3), (285.8, 89.6)],
    "Reacher-3": [(0.2, 0.2), (0.5, 0.2), (183.6, 100.0), (76.9, 80.5), (325.0, 47.0)],
    "Reacher-4": [(0.0, 0.0), (-0.5, 1.1), (0.4, 0.0), (0.1, 0.2), (77.7, 61.1)],
    "EscapeRoom": [(70.7, 5.3), (66.9, 6.5), (68.2, 2.4), (73.2, 7.8), (73.9, 3.1)],
}
_T5_RL2 = {"PointRobot": (239.4, 3.1), "Rooms-3": (108.0, 31.7), "Rooms-4": (85.1, 19.0), "Rooms-5": (72.4, 36.8),
           "Rooms-6": (64.9, 15.9), "Rooms-7": (42.9, 22.9), "Rooms-8": (29.0, 17.0), "Reacher-1": (595.8, 21.4),
           "Reacher-2": (404.0, 35.9), "Reacher-3": (390.6, 49.1), "Reacher-4": (0.0, 0.0),
           "EscapeRoom": (79.9, 4.4)}
_T5_MORE_ROOMS = {  # VariBAD, HyperX and Dreamer-Vanilla print "-"
    "Rooms-7": [_NONE, _NONE, _NONE, (50.2, 4.4), (73.2, 2.9)],
    "Rooms-8": [_NONE, _NONE, _NONE, (29.1, 8.3), (55.6, 3.0)],
}
# Steps to convergence, printed below a dashed line once per group of rows (Rooms-3..8 share one
# line, Reacher-1..4 another). RL²'s are from Table 5; it prints "-" for Reacher.
_STEPS = {
    "PointRobot": dict(zip(("rl2",) + _ALGOS_T1, ("~10M", "~10M", "~15M", "~2M", "~2M", "~2M"))),
    "Rooms": dict(zip(("rl2",) + _ALGOS_T1, ("~100M", "~100M", "~100M", "~6M", "~6M", "~6M"))),
    "Reacher": dict(zip(("rl2",) + _ALGOS_T1, (None, "~150M", "~150M", "~10M", "~10M", "~10M"))),
    "EscapeRoom": dict(zip(("rl2",) + _ALGOS_T1, ("~20M", "~20M", "~20M", "~4M", "~4M", "~4M"))),
}
_STEP_GROUP = {env: env.split("-")[0] if env.startswith(("Rooms", "Reacher")) else env
               for env in list(_T1) + list(_T5_MORE_ROOMS)}

#: The paper's results: ``PAPER[env][algo]`` → :class:`PaperResult`. Table 1 for VariBAD, HyperX,
#: Dreamer-Vanilla, Dreamer-Tune and MAMBA; Table 5 (App. H) for RL² and Rooms-7/8; Table 3
#: (App. E) for VariBAD with local reconstruction (``varibad-local``, Rooms-4/5 only). As printed,
#: Table 3's "VariBAD Vanilla" on Rooms-4 (14.1 ± 3.0) is Table 1's HyperX number, and its "VariBAD
#: Local" (88.1 ± 39.2) is Table 1's VariBAD number; we keep Table 1 for ``varibad``.
PAPER: dict[str, dict[str, PaperResult]] = {}
for _env, _vals in {**_T1, **_T5_MORE_ROOMS}.items():
    _src = "Table 1" if _env in _T1 else "Table 5"
    PAPER[_env] = {a: PaperResult(*v, _STEPS[_STEP_GROUP[_env]][a] if v[0] is not None else None, _src)
                   for a, v in zip(_ALGOS_T1, _vals)}
    PAPER[_env]["rl2"] = PaperResult(*_T5_RL2[_env], _STEPS[_STEP_GROUP[_env]]["rl2"], "Table 5")
PAPER["Rooms-4"]["varibad-local"] = PaperResult(88.1, 39.2, None, "Table 3")
PAPER["Rooms-5"]["varibad-local"] = PaperResult(15.1, 13.1, None, "Table 3")

CITATION = "Rimon, Jurgenson et al., ICLR 2024"


@dataclass
class TableRow:
    env: str
    algo: str                  #: algorithm label (with the variant, if any)
    seeds: int
    mean: float
    std: float | None          #: std over seeds; None for a single seed
    source: str
    steps: int                 #: env steps trained (the shortest run of the group)
    convergence: int | None    #: steps to 90 % (None: the curve did not improve, or the runs do not overlap)
    paper: PaperResult | None
    reference: tuple[float, str] | None


def _final_value(r: RunData) -> tuple[float, str]:
    if r.final is not None:
        n = r.final.get("n_tasks")
        return float(r.final["return_mean"]), f"final test ({n} tasks)" if n else "final test"
    return float(r.returns.max()), "best eval (metrics.csv)"


def table_rows(runs: Iterable[str | Path | RunData], reference: bool = True,
               reference_tasks: int = 1000) -> list[TableRow]:
    """The rows of the table (paper Table 1 layout): one per group of runs, sorted by env then algo."""
    rows = []
    groups = group_runs(runs)
    labels = group_labels(groups)
    for (env, algo, variant), rs in groups.items():
        values, sources = zip(*(_final_value(r) for r in rs))
        source = sources[0] if len(set(sources)) == 1 else (
            "mixed: " + ", ".join(f"{sources.count(s)}× {s}" for s in dict.fromkeys(sources)))
        try:
            x, m, _ = mean_curve([r.env_steps for r in rs], [r.returns for r in rs])
            conv = convergence_step(x, m)
        except ValueError:
            conv = None
        ref = reference_line(env, reference_tasks) if reference else None
        rows.append(TableRow(env, labels[(env, algo, variant)], len(rs), float(np.mean(values)),
                             float(np.std(values)) if len(rs) > 1 else None, source,
                             int(min(r.env_steps[-1] for r in rs)), None if conv is None else int(conv),
                             PAPER.get(env, {}).get(algo),
                             None if ref is None else (ref[0], ref[1])))
    return sorted(rows, key=lambda r: (r.env, r.algo))


COLUMNS = ["Env", "Algorithm", "Seeds", "Ours (mean ± std)", "Source", "Steps", "Steps to 90 %",
           "Paper (mean ± std)", "Paper steps", "Reference"]


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}"


def _cells(row: TableRow) -> list[str]:
    p = row.paper
    return [row.env, row.algo, str(row.seeds), _pm(row.mean, row.std), row.source, f"{row.steps:,}",
            "—" if row.convergence is None else f"{row.convergence:,}",
            "—" if p is None or p.mean is None else f"{_pm(p.mean, p.std)} ({p.table})",
            "—" if p is None or p.steps is None else p.steps,
            "—" if row.reference is None else f"{row.reference[0]:.1f} ({row.reference[1]})"]


NOTES = [
    "Ours: mean ± std over seeds of each run's final return (Source: the final test on held-out tasks in "
    "final.json, or the best evaluation row of metrics.csv where a run has no final.json).",
    f"Steps to 90 %: the first env step where the seed-mean learning curve reaches "
    f"{CONVERGENCE_FRACTION:.0%} of the way from its first evaluation to its final value.",
    f"Paper: {CITATION}, Table 1 (Table 5, App. H, for RL² and Rooms-7/8; Table 3, App. E, for VariBAD with "
    "local reconstruction), for the algorithm as published; our runs may use other presets or sizes (each run's "
    "config.json). Paper steps: steps to convergence as printed (the authors' "
    "code counts each env step twice, see mamba_edu.agents.dreamer.config).",
    "Reference: exact Bayes-optimal return (Rooms-N); return of a scripted explore-then-exploit policy "
    "(PointRobot, PointRobotWind, EscapeRoom), not a proven optimum.",
]


def markdown_table(rows: list[TableRow]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * 2 + ["---"] + ["---:"] * 2
                                                              + ["---:", "---", "---:"]) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in rows]
    return "\n".join(lines + [""] + [f"*{n}*" for n in NOTES]) + "\n"


def _latex_escape(s: str) -> str:
    for a, b in [("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                 ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"$\sim$"), ("±", r"$\pm$"), ("—", "--"),
                 ("×", r"$\times$"), ("²", r"$^2$")]:
        s = s.replace(a, b)
    return s


def latex_table(rows: list[TableRow]) -> str:
    """A ``table`` environment (booktabs); the caption carries the notes."""
    head = " & ".join(_latex_escape(c) for c in COLUMNS) + r" \\"
    body = [" & ".join(_latex_escape(c) for c in _cells(r)) + r" \\" for r in rows]
    caption = _latex_escape(" ".join(NOTES))
    return "\n".join([r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{llrrlrrrrl}", r"\toprule",
                      head, r"\midrule", *body, r"\bottomrule", r"\end{tabular}",
                      rf"\caption{{Meta-episode return of our runs beside the paper's Table 1. {caption}}}",
                      r"\end{table}"]) + "\n"


def results_table(runs: Iterable[str | Path | RunData], format: str = "markdown", reference: bool = True,
                  reference_tasks: int = 1000) -> str:
    """The Table-1-style table of ``runs`` as Markdown or LaTeX text."""
    formats = {"markdown": markdown_table, "latex": latex_table}
    if format not in formats:
        raise ValueError(f"unknown table format {format!r}; valid: {', '.join(formats)}")
    return formats[format](table_rows(runs, reference, reference_tasks))


__all__ = ["PAPER", "PaperResult", "TableRow", "table_rows", "markdown_table", "latex_table", "results_table",
           "COLUMNS"]
