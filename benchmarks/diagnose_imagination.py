"""What the actor-critic learns from: imagined rewards and critic values vs the real data (issue #3).

Loads a Dreamer/MAMBA run's checkpoint (``--which latest``, replay included), takes ``--episodes``
meta-episodes from its replay, and reports, without training:

* **reward calibration** — the real mean reward; the reward head on the posterior states
  (what the world-model loss fits); on prior states k = 1..imag_horizon steps ahead of a
  posterior state, driven by the *recorded* actions (open loop: model error without the policy's
  choices); and on the policy's imagination from every posterior state (what the actor-critic
  phase trains on), beside imagination with uniformly random actions. Imagined reward well above
  the open-loop one means the policy steers into states the model is optimistic about — or, in
  meta-RL, samples beliefs about unvisited places (see the Rooms split below).
* **critic scale** — the critic's mean value on the posterior states beside the mean discounted
  return-to-go of the same replayed meta-episodes (γ of the config, truncated at the end of the
  meta-episode; the replay mixes older policies, so this is a scale, not a target). With a short
  imagination horizon the critic learns its values by bootstrapping from itself, ``imag_horizon``
  steps per fit, and can lag the real returns by a large factor.
* **Rooms-N only** — every imagined step whose predicted reward exceeds 0.5, by the cell the
  decoder reads out of the imagined state: a cell that already paid in this sub-episode (a goal
  that pays once), one that pays later, one visited before without paying (the model forgot), or
  one not yet visited (a sampled belief: the goal could be there).

Usage::

    python benchmarks/diagnose_imagination.py --run DIR [--which latest] [--episodes 64] [--threads 1]
"""
from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, help="a Dreamer/MAMBA run directory")
    p.add_argument("--which", default="latest", choices=["latest"],
                   help="checkpoint to load (latest: the one that holds the replay)")
    p.add_argument("--episodes", type=int, default=64, help="meta-episodes from the run's replay")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from mamba_edu.agents.dreamer.distributions import symexp
    from mamba_edu.envs import make_batched
    from mamba_edu.training.loop import load_learner

    cfg, learner, saved = load_learner(args.run, args.which)
    agent, replay = getattr(learner, "agent", None), getattr(learner, "replay", None)
    if agent is None or replay is None or not len(replay):
        raise SystemExit(f"error: {args.run} is not a Dreamer/MAMBA run with a replay in its latest checkpoint")
    wm, rssm, ac = agent.wm, agent.wm.rssm, agent.ac
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    slots = rng.choice(len(replay), size=min(args.episodes, len(replay)), replace=False)
    print(f"{args.run}: {saved['algo']} on {saved['env']}, {agent.updates} updates, {len(replay)} meta-episodes "
          f"in replay ({len(slots)} used), imag_horizon {cfg.imag_horizon}")

    with torch.no_grad():
        batch = agent._batch_to_torch({k: v[slots] for k, v in replay.data.items()})
        post = wm.observe(batch)
        feat = rssm.features(post)
        r = batch["reward"]                                            # (T, B): reward on arriving at step t
        T = r.shape[0]
        print("\n| reward, mean per step | value |\n|---|---|")
        print(f"| real | {r.mean():+.4f} |")
        print(f"| reward head on posterior states | {wm.reward(feat).mean():+.4f} |")
        flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in post.items()}
        for k in range(1, cfg.imag_horizon + 1):
            st = {n: v[:T - k].reshape(-1, *v.shape[2:]) for n, v in post.items()}
            for j in range(1, k + 1):
                st = rssm.img_step(st, batch["prev_action"][j:T - k + j].reshape(-1, batch["prev_action"].shape[-1]))
            pred = wm.reward(rssm.features(st))
            print(f"| prior, {k} step(s) ahead, recorded actions (real: {r[k:].mean():+.4f}) | {pred.mean():+.4f} |")
        states, _ = rssm.imagine(flat, lambda f: ac.policy(f).sample(), cfg.imag_horizon)
        imagined = wm.reward(rssm.features(states)[1:])                 # (horizon, T*B)
        print(f"| policy imagination from every posterior state | {imagined.mean():+.4f} |")
        A = agent.action_dim
        if agent.discrete:
            random_policy = lambda f: torch.nn.functional.one_hot(torch.randint(0, A, f.shape[:1]), A).float()
        else:
            random_policy = lambda f: torch.rand(f.shape[0], A) * 2 - 1
        states_r, _ = rssm.imagine(flat, random_policy, cfg.imag_horizon)
        print(f"| random-action imagination | {wm.reward(rssm.features(states_r)[1:]).mean():+.4f} |")

        values = ac.value(feat)
        g, to_go = torch.zeros_like(r[0]), []
        for t in range(T - 1, -1, -1):
            g = r[t] + cfg.gamma * g
            to_go.append(g)
        to_go = torch.stack(to_go[::-1])                                # to_go[t] includes r[t]
        print(f"\ncritic value on posterior states: {values[:-1].mean():+.3f}; discounted return-to-go of the "
              f"replayed data (from the next step, γ = {cfg.gamma}, truncated at the end): {to_go[1:].mean():+.3f}")

        env = make_batched(saved["env"], 1)
        layout, t_sub = getattr(env.proto, "layout", None), env.T      # layout: Rooms-N only
        env.close()
        if layout is None or wm.vec_decoder is None:
            return
        decoded = symexp(wm.vec_decoder(rssm.features(states)[1:]))     # (horizon, T*B, obs)
        H = decoded.shape[0]
        cells_imag = layout.cell_from_obs(decoded[..., :2].numpy()).reshape(H, T, -1)
        cells_real = layout.cell_from_obs(replay.data["obs"][slots][..., :2])    # (B, T)
        rewards = replay.data["reward"][slots]                                   # (B, T)
        high = (imagined.reshape(H, T, -1) > 0.5).numpy()
        kinds: Counter = Counter()
        for h, t, b in zip(*np.nonzero(high)):
            cell = cells_imag[h, t, b]
            paid = rewards[b] > 0.5
            sub0 = (t // t_sub) * t_sub
            paid_here = set(cells_real[b, sub0:t + 1][paid[sub0:t + 1]])
            paid_ever = set(cells_real[b][paid])
            visited = set(cells_real[b, :t + 1])
            kind = ("paid already in this sub-episode" if cell in paid_here else
                    "pays elsewhere in the meta-episode" if cell in paid_ever else
                    "visited before, never paid" if cell in visited else "not yet visited")
            room = int(cell // layout.height) // 6 + 1
            kinds[(kind, f"room {room}" if 1 <= room <= layout.n_rooms else "off the map")] += 1
        total = int(high.sum())
        print(f"\nimagined steps with predicted reward > 0.5: {total} of {high.size} "
              f"({100 * total / high.size:.1f} %; real steps with reward > 0.5: {100 * (rewards > 0.5).mean():.1f} %)")
        print("| decoded cell of the imagined step | where | steps | share |\n|---|---|---|---|")
        for (kind, where), n in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print(f"| {kind} | {where} | {n} | {100 * n / max(total, 1):.0f} % |")


if __name__ == "__main__":
    main()
