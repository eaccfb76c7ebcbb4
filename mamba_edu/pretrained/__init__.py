"""Small pre-trained run directories shipped with the package (for notebooks, figures and quick checks).

Each entry is a complete, if slimmed, *run directory* as written by ``python -m mamba_edu train``
(see :mod:`mamba_edu.training.run_dir`): ``config.json`` (algorithm, env, presets, the explicit
overrides and the resolved config), ``metrics.csv`` (one row per evaluation), ``final.json`` (the
final test of the best checkpoint on held-out tasks) and ``checkpoints/best.pt`` (weights only,
loaded with ``torch.load(weights_only=True)``). Not shipped: ``checkpoints/latest.pt`` (it holds the
replay/VAE buffer and optimiser state, tens of MB, and is only needed to ``--resume``) and the
TensorBoard event files. ``COMMAND.md`` beside each one gives the command that reproduces it.

Provenance (all trained on CPU with one torch thread by the package's own CLI, seed 0):

* ``rooms3_varibad`` — VariBAD with *global* reconstruction on Rooms-3 (K = 2 sub-episodes of
  T = 100 steps), the authors' grid-world settings, 2.4 M env steps. Final test: return −10.2 over
  500 held-out tasks.
* ``rooms3_varibad-local`` — the same with *local* reconstruction (window of 10 transitions, paper
  Sec. 3.2.2 / App. E), same budget and seed. Final test: +3.3 over 500 held-out tasks.
* ``metabandit_mamba`` — a tiny MAMBA (deter 64, stoch 8×8) on the MetaBandit (K = 4 sub-episodes of
  5 pulls of 2 arms), 4,000 env steps, the configuration of ``benchmarks/context_learning.py``.
  Final test: 19.2 over 500 held-out tasks.

* ``rooms4_varibad`` / ``rooms4_varibad-local`` — the paper's Fig. 2 pair: VariBAD with global and
  with local reconstruction on Rooms-4, the authors' grid-world settings, each stopped once it had
  reached the paper's level (global: best checkpoint at 18.09M env steps, local: 14.07M, of a 100M
  budget). Final tests over 1000 held-out tasks (sampled actions): global +13.2, local +118.1 (the
  paper's Table 3: 14.1 ± 3.0 and 88.1 ± 39.2; Bayes-optimal 142.8). The local agent solves the task;
  the global one reaches the first goal and does little with what it learned, as in the paper.

* ``rooms1_mamba`` — MAMBA (full context via ``stored-state``, ``cpu`` sizes) on Rooms-1 after 42k env
  steps: 182.9 over 1000 held-out tasks with the policy's mode, 94 % of the Bayes-optimal 195.6.
* ``pointrobot_mamba`` — MAMBA (full context via ``stored-state``, ``cpu`` sizes, 8 imagined steps, the std
  head detached) on PointRobot, best checkpoint at 858k of the paper's 1M env steps: 177.3 over 1000
  held-out tasks with the policy's mode (the paper's MAMBA: 242.2; the scripted reference: 268.4). Not
  the authors' configuration, which has not learned PointRobot on this CPU.
* ``rooms4_mamba`` — MAMBA (full context via ``stored-state``, ``cpu`` sizes, 8 imagined steps, the authors'
  Rooms update rate of 0.05 updates per env step) on Rooms-4, best checkpoint at 720.8k env steps of a 1M
  budget: 118.4 over 1000 held-out tasks with the policy's mode (the paper's MAMBA: 136.7; Bayes-optimal
  142.8). It collects the goals room after room in both sub-episodes but does not use, after the reset,
  the goals it found; shipped for the world-model panel beside Fig. 2.

The two Rooms-3 runs are **far from converged**: the Bayes-optimal return of Rooms-3 is 160.4, a
policy that never reaches a goal scores −20, and the paper reports 158.7 ± 2.6 for VariBAD after
~100 M env steps (Table 1), 40× the budget of these. They are shipped because they already show
what a global vs a local reconstruction target does to the decoded reward map (the paper's Fig. 2,
book notebook 02), not as baseline numbers. The MetaBandit run is converged (19.2 of the
Bayes-optimal 19.5; chance 10).

Use::

    from mamba_edu.pretrained import list_pretrained, pretrained_run
    list_pretrained()                          # {name: one-line description}
    run = pretrained_run("rooms3_varibad")     # pathlib.Path of the run directory

    from mamba_edu.viz.heatmaps import compare_heatmaps
    compare_heatmaps([pretrained_run("rooms3_varibad"), pretrained_run("rooms3_varibad-local")])

From a shell (``evaluate`` only prints; never pass ``--write-final`` on a shipped directory: it is
package data and should stay as it is)::

    RUN=$(python -c 'from mamba_edu.pretrained import pretrained_run as p; print(p("rooms3_varibad"))')
    python -m mamba_edu plot heatmap --run "$RUN" --out heatmap.png
    python -m mamba_edu evaluate --run "$RUN" --tasks 200
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["PRETRAINED", "list_pretrained", "pretrained_run"]

_ROOT = Path(__file__).resolve().parent

#: name → what it is (the numbers of the final test are appended from ``final.json``)
PRETRAINED: dict[str, str] = {
    "rooms3_varibad": "VariBAD, global reconstruction, on Rooms-3 after 2.4M env steps (far from converged; "
                      "Bayes-optimal 160.4)",
    "rooms3_varibad-local": "VariBAD, local reconstruction (window 10), on Rooms-3 after 2.4M env steps (far from "
                            "converged; Bayes-optimal 160.4)",
    "metabandit_mamba": "tiny MAMBA on the MetaBandit after 4,000 env steps (Bayes-optimal 19.5, chance 10)",
    "rooms4_varibad": "VariBAD, global reconstruction, on Rooms-4 after 18.1M env steps (the paper's Fig. 2 top; "
                      "Bayes-optimal 142.8, paper Table 3: 14.1)",
    "rooms4_varibad-local": "VariBAD, local reconstruction (window 10), on Rooms-4 after 14.1M env steps (the paper's "
                            "Fig. 2 bottom; Bayes-optimal 142.8, paper Table 3: 88.1)",
    "rooms1_mamba": "MAMBA (stored-state context, cpu sizes) on Rooms-1 after 42k env steps (Bayes-optimal 195.6)",
    "pointrobot_mamba": "MAMBA (stored-state context, cpu sizes, 8 imagined steps) on PointRobot after 858k env steps "
                        "(scripted reference 268.4, paper Table 1: 242.2)",
    "rooms4_mamba": "MAMBA (stored-state context, cpu sizes, 8 imagined steps, 0.05 updates per env step) on Rooms-4 "
                    "after 721k env steps (the world-model panel beside Fig. 2; Bayes-optimal 142.8, paper Table 3: "
                    "136.7)",
}


def _final_summary(run: Path) -> str:
    try:
        final = json.loads((run / "final.json").read_text())
        return (f"final test {final['return_mean']:.2f} ± {final['return_sem']:.2f} (s.e.) "
                f"over {final['n_tasks']} tasks")
    except (OSError, ValueError, KeyError):
        return "final.json missing"


def list_pretrained() -> dict[str, str]:
    """``{name: one-line description}`` of every shipped run, with its final-test return."""
    return {name: f"{text}; {_final_summary(_ROOT / name)}" for name, text in PRETRAINED.items()}


def pretrained_run(name: str) -> Path:
    """The run directory of the shipped run ``name`` (usable as ``--run DIR`` and by :mod:`mamba_edu.viz`).

    Raises ``ValueError`` naming the valid choices for an unknown name, ``FileNotFoundError`` if the
    package was installed without its data files.
    """
    if name not in PRETRAINED:
        raise ValueError(f"unknown pre-trained run {name!r}; valid: {', '.join(PRETRAINED)}")
    run = _ROOT / name
    missing = [p for p in ("config.json", "final.json", "checkpoints/best.pt") if not (run / p).is_file()]
    if missing:
        raise FileNotFoundError(f"pre-trained run {name!r} is incomplete at {run} (missing {', '.join(missing)}); "
                                "was mamba-edu installed without its package data?")
    return run
