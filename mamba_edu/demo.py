"""The README's main demo (``python -m mamba_edu demo``).

1. Scripted Bayes-optimal references on Rooms-3 and PointRobot: behaviour pictures like the
   paper's Figure 1 and their returns over held-out tasks beside the reference value.
2. MAMBA learns the MetaBandit (remember which arm paid, across sub-episodes) in about a minute
   of CPU, beside the same agent without the reward in its observation (paper App. G).
3. What a learned belief predicts (the paper's Figure 2): reward-prediction heatmaps of the shipped
   VariBAD Rooms-4 checkpoints with global and local reconstruction, and of the shipped Rooms-4
   MAMBA's world model beside them (:mod:`mamba_edu.pretrained`).

``MAMBA_EDU_QUICK=1`` shrinks the budgets (fewer tasks and steps); the code paths are the same.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from mamba_edu.envs import make_batched
from mamba_edu.quick import quick_budget
from mamba_edu.references import reference, scripted_policy
from mamba_edu.rollout import rollout
from mamba_edu.viz.behaviour import behaviour_figure


def run_demo(out: str | Path = "demo_output") -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = scripted_references(out, n_tasks=quick_budget(1000, quick=100))
    summary.update(bandit_memory(out, steps=quick_budget(4000, quick=2000)))
    summary.update(belief_heatmaps(out))
    print("\nNext: python -m mamba_edu train --algo mamba --env Rooms-3 --preset cpu   (see README)")
    return summary


def scripted_references(out: Path, n_tasks: int) -> dict:
    """Part 1: behaviour pictures and returns of the scripted references on Rooms-3 and PointRobot."""
    summary = {}
    print("== 1. Scripted Bayes-optimal references (Figure 1 style) ==")
    for name in ("Rooms-3", "PointRobot"):
        env = make_batched(name, 3)
        ro = rollout(scripted_policy(name), env, seed=7)
        png = behaviour_figure(name, ro, out / f"behaviour_{name}.png",
                               suptitle=f"{name}: scripted reference, one colour per sub-episode")
        ref = reference(name, n_tasks=n_tasks)
        exact = f"exact Bayes-optimal {ref['bayes_optimal_return']:.1f}" if ref["exact"] else "scripted reference"
        print(f"{name:11s} return {ref['return_mean']:7.1f} ± {ref['return_std']:.1f} over {n_tasks} tasks "
              f"(sub-episodes {', '.join(f'{r:.1f}' for r in ref['sub_episode_returns_mean'])}); {exact}")
        print(f"            picture: {png}")
        summary[name] = ref
    return summary


def bandit_memory(out: Path, steps: int) -> dict:
    """Part 2: MAMBA on the MetaBandit, with and without the reward in its observation."""
    import shutil

    from mamba_edu.training.loop import train

    summary = {}
    print("\n== 2. MAMBA learns to remember (MetaBandit: 4 sub-episodes x 5 pulls, 2 arms) ==")
    common = dict(steps=steps, eval_every=steps, prefill=480, deter=64, hidden=32, stoch=8, classes=8, units=64,
                  batch_size=16, seq_len=16, train_ratio=64, num_envs=8, imag_horizon=5, imag_starts=16,
                  actor_lr=1e-3, critic_lr=1e-3, model_lr=1e-3, eval_tasks=50, final_tasks=200)
    for label, extra in (("mamba", {}), ("mamba, no reward in obs", {"reward_in_obs": False})):
        run = out / ("run_mamba_bandit" if not extra else "run_mamba_bandit_noreward")
        if run.exists():
            shutil.rmtree(run)
        t = time.time()
        train("mamba", "MetaBandit", overrides={**common, **extra}, out=run, progress=False)
        final = json.loads((run / "final.json").read_text())
        print(f"{label:24s} return {final['return_mean']:5.2f} over {final['n_tasks']} tasks "
              f"(sub-episodes {', '.join(f'{r:.2f}' for r in final['sub_episode_returns_mean'])}) "
              f"after {steps} env steps, {time.time() - t:.0f} s; run dir {run}")
        summary[label] = final
    print("Bayes-optimal 19.50 (first pull is a coin flip, then always the paying arm); "
          "an agent that cannot see rewards earns 10.00 on average.")
    return summary


def belief_heatmaps(out: Path) -> dict:
    """Part 3: Figure 2 from the shipped Rooms-4 checkpoints: VariBAD with global and with local
    reconstruction (the paper's pair), and beside them what MAMBA's world model predicts."""
    from mamba_edu.pretrained import pretrained_run
    from mamba_edu.references import reference
    from mamba_edu.training.run_dir import read_metrics
    from mamba_edu.viz.heatmaps import compare_heatmaps, load_trace, median_return_task

    print("\n== 3. What a learned belief predicts (Figure 2, shipped Rooms-4 checkpoints) ==")
    names = ("rooms4_varibad", "rooms4_varibad-local", "rooms4_mamba")
    runs = [pretrained_run(name) for name in names]
    bayes_optimal = reference("Rooms-4", n_tasks=10)["bayes_optimal_return"]
    n = quick_budget(101, quick=21)
    task, ret = median_return_task(runs[1], n_tasks=n)
    png = out / "fig2_rooms4.png"
    compare_heatmaps([load_trace(run, task=task) for run in runs], out=png)
    summary = {}
    for run, paper in zip(runs, (14.1, 88.1, 136.7)):
        final = json.loads((run / "final.json").read_text())
        best = max(read_metrics(run), key=lambda row: row["return_mean"])     # the evaluation best.pt is from
        print(f"{run.name:21s} return {final['return_mean']:6.1f} over {final['n_tasks']} tasks after "
              f"{best['env_steps'] / 1e6:.2f}M env steps "
              f"(paper, Table 3: {paper}; exact Bayes-optimal {bayes_optimal:.1f})")
        summary[run.name] = final
    print(f"picture: {png} (the episode: the task whose return under the local VariBAD agent is the median of {n} "
          f"held-out tasks, {ret:.1f}; all three agents on it with the same seed. Global reconstruction: the same far "
          "corners whatever was seen, and an agent that does worse in the second sub-episode; local: sharp "
          "predictions around the agent, every goal found; MAMBA's world model: what walking to each cell would "
          "pay now, so a goal's cell goes dark once it has paid and a later goal stays dark until the ones before "
          "it are collected)")
    return summary
