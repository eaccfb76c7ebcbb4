"""PointRobot at the authors' configuration: evaluation return vs real env steps, our runs beside the authors' code.

Each curve is one run's evaluations (20 fixed tasks, the policy's mode, as the authors evaluate): our
``--preset paper`` runs from their ``metrics.csv`` (column ``env_steps``) and the run of the authors'
released code on this CPU from the ``eval.csv`` that ``experiments/authors_code_export.py`` writes
(column ``real_env_steps``). Dashed: the paper's Table 1 (MAMBA 242.2, Dreamer-Tune 239.7, 1000 tasks).
Drawn in docs/notes/pointrobot_paper.md.

Usage::

    python experiments/pointrobot_paper_figure.py --out docs/img/pointrobot_paper_curves.png \\
        --run "MAMBA, seed 0=experiments/results/pointrobot_mamba-paper_s0" \\
        --run "MAMBA, seed 1=experiments/results/pointrobot_mamba-paper_s1" \\
        --run "authors' code, seed 0=experiments/results/pointrobot_authors-code_s0"
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

#: the paper's Table 1, PointRobot (mean over 1000 held-out tasks)
PAPER = {"MAMBA (paper)": 242.2, "Dreamer-Tune (paper)": 239.7}


def read_curve(folder: Path) -> tuple[list[float], list[float]]:
    """(real env steps, evaluation return) of a run's results folder, ours or the authors' export."""
    for name, x_key in (("metrics.csv", "env_steps"), ("eval.csv", "real_env_steps")):
        if (folder / name).exists():
            rows = [r for r in csv.DictReader((folder / name).open())
                    if r.get("tasks", "20") == "20"]     # the export's last row is the 1000-task final test
            return [float(r[x_key]) for r in rows], [float(r["return_mean"]) for r in rows]
    raise SystemExit(f"error: {folder} has neither metrics.csv nor eval.csv")


def main() -> None:
    import matplotlib
    matplotlib.use("Agg")
    from mamba_edu.viz import style

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", action="append", required=True, metavar="LABEL=FOLDER")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    with style.context():
        fig, (ax,) = style.subplots(1, aspect=0.55, pyplot=False)
        for item in args.run:
            label, sep, folder = item.partition("=")
            if not sep:
                raise SystemExit(f"error: --run {item!r}: expected LABEL=FOLDER")
            x, y = read_curve(Path(folder))
            ax.plot([v / 1e6 for v in x], y, marker="o", markersize=3, label=label)
        for (label, value), colour in zip(PAPER.items(), ("0.3", "0.6")):
            ax.axhline(value, ls="--", color=colour, lw=1, label=label)
        ax.set_yscale("symlog", linthresh=10)
        ax.set_ylim(-0.5, 400)
        ax.set_xlabel("real env steps (millions)")
        ax.set_ylabel("evaluation return (20 tasks, mode)")
        ax.set_title("PointRobot at the authors' configuration")
        style.legend(ax)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.out, dpi=style.DPI, bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
