"""Post-mortem of a Dreamer/MAMBA run that does not learn: what its world model, critic and actor do now.

Loads ``checkpoints/{latest,best}.pt`` of a run folder (with its replay: use ``latest``, the best
checkpoint is saved without one), draws one training batch exactly as an update would, and reports:

* the reward head's recall: the predicted reward at the steps where the real reward was positive,
  against its prediction elsewhere (a head that has not learned the sparse reward predicts ~0 on both),
  and the same for the decoder's reconstruction of the reward feature of the observation;
* the critic's spread: quantiles of v(s) over the imagination start states, and the spread (std over
  states) of each critic layer's output (a critic whose last layers carry no spread has collapsed to
  a constant, so v(s_1) gives the actor no direction);
* the actor's gradient split into the return term and the entropy term (norm over all parameters);
* the policy at those states: std, mean |tanh(mean)| and the mean action (a mean near a corner of the
  action box with the std at its maximum is the drift described in docs/notes/pointrobot_paper.md).

Usage (one torch thread, about a minute at ``paper`` sizes)::

    python benchmarks/diagnose_run.py ../exp/pr_paper_mamba_s0
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from mamba_edu.training.loop import load_learner


def layer_spread(net: torch.nn.Sequential, x: torch.Tensor) -> list[float]:
    """Std over the batch (mean over units) of each layer's output of ``net`` on ``x``."""
    out = []
    for layer in net:
        x = layer(x)
        out.append(float(x.std(0).mean()))
    return out


def grad_norm(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> float:
    grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
    return float(torch.sqrt(sum((g ** 2).sum() for g in grads if g is not None)))


def decoded_reward_feature(agent, cb, post_feats: torch.Tensor, pos: torch.Tensor) -> dict[str, float]:
    """How well the decoder reconstructs the reward *feature of the observation* (MAMBA appends the last
    reward to it, paper Sec. 3.3) where the reward was positive: the column of the observation that equals
    the reward at every step, decoded from the posterior features."""
    from mamba_edu.agents.dreamer.distributions import symexp

    obs, reward = cb.batch["obs"], cb.batch["reward"]
    if isinstance(obs, dict) or not pos.any():
        return {}
    columns = [j for j in range(obs.shape[-1]) if torch.equal(obs[..., j], reward)]
    if not columns or agent.wm.vec_decoder is None:
        return {}
    with torch.no_grad():
        decoded = symexp(agent.wm.vec_decoder(post_feats))[..., columns[0]]
    return {"decoder/reward_feature_at_positive": float(decoded[pos].mean()),
            "decoder/reward_feature_elsewhere": float(decoded[~pos].mean())}


def diagnose(run: str, which: str = "latest", seed: int = 0) -> dict[str, float]:
    torch.manual_seed(seed)
    cfg, learner, _ = load_learner(run, which)
    agent, ac = learner.agent, learner.agent.ac
    if len(learner.replay) == 0:
        raise SystemExit(f"error: {which}.pt of {run} holds no replay; use --which latest")
    report: dict[str, float] = {"updates": float(agent.updates), "replay_episodes": float(len(learner.replay))}
    cb = agent.context.sample(learner.replay, 10 ** 12, agent.updates)
    with torch.no_grad():
        _, post, wm_metrics = agent.wm.loss(cb.batch, cb.indices, cb.start, cb.weights)
        post_feats = agent.wm.rssm.features(post)
        pred = agent.wm.reward(post_feats)
    report.update({k: float(v) for k, v in wm_metrics.items() if k.startswith("wm/")})
    real = cb.batch["reward"][: pred.shape[0]]
    pred = pred[: real.shape[0]]
    pos = real > 0
    report["reward/positive_fraction"] = float(pos.float().mean())
    report["reward/pred_at_positive"] = float(pred[pos].mean()) if pos.any() else float("nan")
    report["reward/real_at_positive"] = float(real[pos].mean()) if pos.any() else float("nan")
    report["reward/pred_elsewhere"] = float(pred[~pos].mean())
    report.update(decoded_reward_feature(agent, cb, post_feats, pos))

    start = agent._imagination_starts({k: v.detach() for k, v in post.items()})
    feats = agent.wm.rssm.features(start).detach()
    with torch.no_grad():
        values = ac.value(feats).flatten().numpy()
        for q in (0.05, 0.5, 0.95):
            report[f"critic/v_q{int(q * 100):02d}"] = float(np.quantile(values, q))
        for i, s in enumerate(layer_spread(ac.critic, feats)):
            report[f"critic/spread_layer{i}"] = s
        dist = ac.policy(feats)
        report["policy/std"] = float(dist.std.mean())
        report["policy/abs_mean"] = float(dist.mean.abs().mean())
        for d, m in enumerate(dist.mean.mean(0).tolist()):
            report[f"policy/mean_action_{d}"] = m

    params = list(ac.actor.parameters())
    entropy = cfg.entropy
    try:
        ac.cfg.entropy = 0.0
        torch.manual_seed(seed + 1)
        ret_loss, _, _ = ac.losses(agent.wm, start)
        report["actor/grad_norm_return_term"] = grad_norm(ret_loss, params)
    finally:
        ac.cfg.entropy = entropy
    ent_loss = -(entropy * ac.policy(feats).entropy()).mean()
    report["actor/grad_norm_entropy_term"] = grad_norm(ent_loss, params)
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", help="a Dreamer/MAMBA run folder")
    p.add_argument("--which", default="latest", choices=["latest", "best"])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    for k, v in diagnose(args.run, args.which, args.seed).items():
        print(f"{k:32s} {v:.4g}")


if __name__ == "__main__":
    main()
