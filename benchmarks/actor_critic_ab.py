"""A/B of the actor-critic phase of an update against the version at a git revision.

Loads ``mamba_edu/agents/dreamer/actor_critic.py`` as it was at ``--base`` (``git show``) beside
the working tree's, gives both the same weights, and on the same imagination start states checks
that they compute the same losses and gradients, then times ``losses()`` + both backward passes
(as ``DreamerAgent.train_step`` runs them), alternating A and B in one process so that both see the
same machine load.

Start states come from a run directory's checkpoint (``--run DIR``: the real task, e.g. a Rooms-1
run for discrete actions) or from a synthetic PointRobot-sized replay (continuous actions).

Usage::

    python benchmarks/actor_critic_ab.py --base 46c76c8~1 --run runs/rooms1 --threads 1
    python benchmarks/actor_critic_ab.py --base 46c76c8~1 --length 300 --threads 1
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
MODULE = "mamba_edu/agents/dreamer/actor_critic.py"


def load_base(rev: str):
    source = subprocess.run(["git", "show", f"{rev}:{MODULE}"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout
    path = Path(tempfile.mkdtemp()) / "actor_critic_base.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("actor_critic_base", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def agent_and_starts(args):
    if args.run:
        from mamba_edu.training.loop import load_learner

        _, learner, _ = load_learner(args.run, "latest")
        agent, replay, env_steps = learner.agent, learner.replay, 10**9
    else:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from synthetic_replay import make

        agent, replay = make("mamba", args.length, ["cpu", "stored-state"], args.imag_horizon)
        env_steps = 10**9
    cb = agent.context.sample(replay, env_steps, agent.updates)
    _, post, _ = agent.wm.loss(cb.batch, cb.indices, cb.start)
    return agent, agent._imagination_starts({k: v.detach() for k, v in post.items()})


def one_pass(ac, wm, start):
    torch.manual_seed(0)
    actor_loss, critic_loss, _ = ac.losses(wm, start)
    actor_params, critic_params = list(ac.actor.parameters()), list(ac.critic.parameters())
    for p in actor_params + critic_params:
        p.grad = None
    actor_loss.backward(inputs=actor_params, retain_graph=True)
    critic_loss.backward(inputs=critic_params)
    grads = torch.cat([p.grad.flatten() for p in actor_params + critic_params])
    return actor_loss.item(), critic_loss.item(), grads


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", required=True, help="git revision of the baseline (A)")
    p.add_argument("--run", help="run directory whose latest checkpoint gives the agent and replay")
    p.add_argument("--length", type=int, default=300, help="synthetic meta-episode length (without --run)")
    p.add_argument("--imag-horizon", type=int, default=2)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    base = load_base(args.base)
    agent, start = agent_and_starts(args)
    new = agent.ac
    old = base.ActorCritic(agent.cfg, agent.wm.rssm.feat_dim, agent.action_dim, agent.discrete)
    old.load_state_dict(new.state_dict())
    a, b = one_pass(old, agent.wm, start), one_pass(new, agent.wm, start)
    print(f"{'discrete (REINFORCE)' if agent.discrete else 'continuous (dynamics)'} actions, "
          f"{start['deter'].shape[0]} start states, horizon {agent.cfg.imag_horizon}, "
          f"threads {torch.get_num_threads()}")
    print(f"actor loss A {a[0]:.6g} B {b[0]:.6g}; critic loss A {a[1]:.6g} B {b[1]:.6g}; "
          f"max |grad A - grad B| = {(a[2] - b[2]).abs().max().item():.3g} (max |grad| {a[2].abs().max().item():.3g})")
    times = {"A": [], "B": []}
    for _ in range(args.rounds):
        for name, ac in (("A", old), ("B", new)):
            t = time.perf_counter()
            for _ in range(args.reps):
                one_pass(ac, agent.wm, start)
            times[name].append((time.perf_counter() - t) / args.reps * 1e3)
    for name in times:
        print(f"{name} ({args.base if name == 'A' else 'working tree'}): "
              + " / ".join(f"{x:.1f}" for x in times[name]) + " ms per actor-critic phase")
    ratio = sum(times["A"]) / sum(times["B"])
    print(f"speed-up B over A: {ratio:.2f}x")


if __name__ == "__main__":
    main()
