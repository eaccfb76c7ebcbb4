"""How fast does a burn-in wash out a wrong start state, and does memory survive it? (issue #10)

The stored-state strategy starts each training window from a posterior state computed by an older
model, then runs ``burn_in`` steps under the current model before the gradient window. Two
questions decide whether that is sound, and both are measured here on a trained run's world model
and its own replay:

* **staleness** — start the burn-in from the *stored* state (as training does) and compare, step by
  step, with a fresh full-context pass over the same meta-episode (same latent samples). The gap
  should be small and stay small.
* **memory** — start instead from the RSSM's *blank* initial state (what a Dreamer window does). In a
  task that needs memory the gap should **not** wash out: no number of burn-in steps can recover what
  happened before the window. If it did wash out, the context would not matter for this task.

Measured after k steps from start steps c (multiples of the state stride), separately for starts in
each sub-episode: the relative L2 gap of the deterministic state h (``‖h − h_fresh‖ / ‖h_fresh‖``;
the noise floor is the gap between two fresh passes that differ only in their latent samples) and,
on Rooms-N, what the state *believes*: the predicted reward map (:func:`rooms_reward_map`, the
Fig. 2 probe) against the fresh pass's map — mean absolute gap over cells, and how often both put
the most reward on the same cell.

Usage::

    python benchmarks/burn_in_decay.py --run DIR [--episodes 64] [--steps 0 1 2 4 8 16 32 64] --threads 1
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from mamba_edu.agents.dreamer.context import stored_state
from mamba_edu.agents.dreamer.distributions import gumbel_noise


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, help="a stored-state MAMBA run directory (latest checkpoint is used)")
    p.add_argument("--episodes", type=int, default=64, help="meta-episodes from the run's replay")
    p.add_argument("--steps", type=int, nargs="+", default=[0, 1, 2, 4, 8, 16, 32, 64],
                   help="burn-in lengths k to report")
    p.add_argument("--maps", type=int, default=16,
                   help="Rooms-N: meta-episodes whose predicted reward maps are compared (0 = none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from mamba_edu.training.loop import load_learner

    cfg, learner, saved = load_learner(args.run, "latest")
    if cfg.context != "stored-state":
        raise SystemExit(f"error: {args.run} was trained with context={cfg.context!r}; this needs a stored-state run")
    agent, replay = learner.agent, learner.replay
    wm, rssm = agent.wm, agent.wm.rssm
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    slots = rng.choice(len(replay), size=min(args.episodes, len(replay)), replace=False)
    K = max(args.steps)
    store = agent.context.store(replay)
    stride, T_len = store.stride, replay.length
    from mamba_edu.envs import make_batched

    env = make_batched(saved["env"], 1)
    T = env.T
    layout = getattr(getattr(env, "proto", None), "layout", None)  # Rooms-N only
    env.close()
    def rel_gap(h, h0):
        return (h - h0).norm(dim=-1) / h0.norm(dim=-1).clamp(min=1e-8)

    with torch.no_grad():
        batch = agent.context.to_torch({k: v[slots] for k, v in replay.data.items()})
        embed = wm.encoder(batch["obs"])
        shape = (T_len, len(slots), cfg.stoch, cfg.classes)
        noise = gumbel_noise(shape)
        fresh = rssm.observe(embed, batch["prev_action"], None, noise)
        again = rssm.observe(embed, batch["prev_action"], None, gumbel_noise(shape))

        def belief_maps(post, c, b):
            """Predicted reward maps (imagined from each step's state) for meta-episode b, at the
            reported burn-in lengths: what the state believes about where reward is."""
            from mamba_edu.agents.dreamer.probe import rooms_reward_map

            cells = layout.cell_from_obs(replay.data["obs"][slots[b], c:c + K + 1, :2])
            return np.stack([rooms_reward_map(agent, {k: v[i, b:b + 1] for k, v in post.items()}, layout,
                                              int(cells[i])) for i in args.steps])

        def gaps(state, c, map_rows):
            post = rssm.observe(embed[c:c + K + 1], batch["prev_action"][c:c + K + 1], state, noise[c:c + K + 1])
            rel = rel_gap(post["deter"], fresh["deter"][c:c + K + 1])
            return rel, [belief_maps(post, c, b) for b in map_rows]

        rows = {}
        for c in range(stride, T_len - K - 1, stride):
            j = c // stride
            version = store.version[slots, j]
            ok = version >= 0
            if not ok.any():
                continue
            stored = stored_state(store.deter[slots, j], store.stoch[slots, j], cfg.classes)
            # maps only for meta-episodes whose stored state at c was written (as the h gaps below)
            map_rows = np.flatnonzero(ok)[:args.maps] if layout else []
            rel_s, maps_s = gaps(stored, c, map_rows)
            rel_b, maps_b = gaps(rssm.initial(len(slots)), c, map_rows)
            fresh_c = {k: v[c:c + K + 1] for k, v in fresh.items()}
            maps_f = [belief_maps(fresh_c, c, b) for b in map_rows]
            floor = rel_gap(again["deter"][c:c + K + 1], fresh["deter"][c:c + K + 1])
            m = torch.as_tensor(ok)
            rows[c] = dict(stored=rel_s[:, m].mean(1), blank=rel_b[:, m].mean(1), floor=floor[:, m].mean(1),
                           age=float((agent.updates - version[ok]).mean()))
            if maps_f:  # per reported k: mean |map − fresh map| and agreement of the most rewarding cell
                def compare(maps):
                    diff = [np.nanmean(np.abs(m - f), axis=(1, 2)) for m, f in zip(maps, maps_f)]
                    same = [[np.nanargmax(m[i]) == np.nanargmax(f[i]) for i in range(len(args.steps))]
                            for m, f in zip(maps, maps_f)]
                    return np.mean(diff, 0), np.mean(same, 0)
                rows[c]["map_stored"], rows[c]["argmax_stored"] = compare(maps_s)
                rows[c]["map_blank"], rows[c]["argmax_blank"] = compare(maps_b)
    print(f"run {args.run}: {saved['env']}, {agent.updates} updates, {len(slots)} meta-episodes of {T_len - 1} steps, "
          f"state stride {stride}, burn_in used in training {cfg.burn_in}")
    groups: dict[int, list[int]] = {}
    for c in rows:
        groups.setdefault(c // T + 1, []).append(c)
    for sub, cs in groups.items():
        rs = [rows[c] for c in cs]
        key = f"sub-episode {sub}"
        print(f"\nstarts c in {key} ({', '.join(map(str, cs))}); stored states {np.mean([r['age'] for r in rs]):.0f} updates old on average")
        print("| burn-in k | h gap from stored state | h gap from blank state | noise floor (resampled z) |")
        print("|---|---|---|---|")
        for k in args.steps:
            mean = {name: float(np.mean([float(r[name][k]) for r in rs])) for name in rs[0]
                    if name != "age" and not name.startswith(("map_", "argmax_"))}
            print(f"| {k} | {mean['stored']:.3f} | {mean['blank']:.3f} | {mean['floor']:.3f} |")
        if "map_stored" in rs[0]:
            print(f"\npredicted reward maps (Rooms), {min(args.maps, len(slots))} meta-episodes per start: mean |map − "
                  "full-context map| over cells, and how often the most rewarding cell is the same")
            print("| burn-in k | map gap, stored start | map gap, blank start | same best cell, stored | same best cell, blank |")
            print("|---|---|---|---|---|")
            for i, k in enumerate(args.steps):
                m = {name: float(np.mean([r[name][i] for r in rs]))
                     for name in ("map_stored", "map_blank", "argmax_stored", "argmax_blank")}
                print(f"| {k} | {m['map_stored']:.3f} | {m['map_blank']:.3f} | {100 * m['argmax_stored']:.0f} % | "
                      f"{100 * m['argmax_blank']:.0f} % |")


if __name__ == "__main__":
    main()
