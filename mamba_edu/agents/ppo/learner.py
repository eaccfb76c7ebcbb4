"""The PPO baselines on the shared training loop: VariBAD (global/local), HyperX and RL².

The learners implement :class:`mamba_edu.training.learner.Learner`: the loop steps B meta-episodes
in lock-step (:func:`mamba_edu.training.collect.collect_batch`) and calls
``begin`` → (``act`` → ``observe`` → ``update``)×H → ``end`` → ``update``. PPO is on-policy, so a learner
records the whole batch and trains once it is complete, in the ``update`` call after the last
step (``end`` covers batches that all ended early). One PPO iteration = B whole meta-episodes.

Observations carry the previous reward (``reward_in_obs``, required): the agents read r_{t−1}
from the observation and remember their own last action, so acting needs nothing but the
observation — the same code runs in training and in the shared evaluation routine.

:class:`VariBADLearner` — one iteration, top to bottom (:meth:`VariBADLearner.train_iteration`):

1. beliefs b_0..b_H of the batch (the encoder did not change while acting);
2. policy rewards: normalised task reward (+ HyperX bonuses on s⁺_{t+1});
3. GAE advantages and returns;
4. update the policy's input normalisation, recompute the old log-probabilities;
5. PPO epochs on random minibatches of time steps (the belief is an input, detached);
6. VAE updates (ELBO, global or local reconstruction) on meta-episodes from the buffer;
7. HyperX: one RND predictor step on stored hyper-states.

:class:`RL2Learner` — the same loop without 1, 4, 6, 7; PPO minibatches are sets of whole
meta-episodes that the GRU re-reads from step 0 (backpropagation through time).
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from mamba_edu.agents.ppo.config import PPOConfig
from mamba_edu.agents.ppo.hyperx import HyperXBonus
from mamba_edu.agents.ppo.ppo import (PolicyHead, ReturnNormaliser, RunningMeanStd, action_dim, encode_action,
                                      explained_variance, gae, minibatches, ppo_loss)
from mamba_edu.agents.ppo.rl2 import RL2ActorCritic
from mamba_edu.agents.ppo.varibad import BeliefPolicy, EpisodeBuffer, VariBADVAE, cells_fn, sample_gaussian
from mamba_edu.training.device import pick_device
from mamba_edu.training.errors import check_finite


class ObsSplit:
    """Where the parts of a meta-episode observation [state, prev reward?, t/H?] are."""

    def __init__(self, obs_space: gym.Space, reward_in_obs: bool, time_in_obs: bool) -> None:
        if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
            raise ValueError(f"the PPO baselines need flat vector observations, got {obs_space}")
        dim = obs_space.shape[0]
        self.state_dim = dim - int(reward_in_obs) - int(time_in_obs)
        self.reward_col = self.state_dim if reward_in_obs else None
        keep = list(range(self.state_dim)) + ([dim - 1] if time_in_obs else [])
        self.policy_cols = torch.tensor(keep)
        self.policy_dim = len(keep)

    def state(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[..., :self.state_dim]

    def reward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[..., self.reward_col]

    def policy_obs(self, obs: torch.Tensor) -> torch.Tensor:
        """What the policy sees: the state (and the time feature), never the previous reward."""
        return obs.index_select(-1, self.policy_cols)


# =====================================================================================================
# agents: the networks and acting (a BatchPolicy per call of ``actor``)
# =====================================================================================================

class VariBADAgent(nn.Module):
    """Belief VAE, belief-conditioned policy with its input normalisation, optional HyperX bonus."""

    def __init__(self, cfg: PPOConfig, obs_space: gym.Space, action_space: gym.Space, cells=None) -> None:
        super().__init__()
        self.cfg, self.action_space = cfg, action_space
        self.split = ObsSplit(obs_space, cfg.reward_in_obs, cfg.time_in_obs)
        self.action_dim = action_dim(action_space)
        n_cells, self.to_cell = cells if cells is not None else (0, None)
        self.vae = VariBADVAE(cfg, self.split.state_dim, self.action_dim, n_cells)
        belief_dim = 2 * cfg.latent_dim
        self.policy = BeliefPolicy(self.split.policy_dim, belief_dim, action_space, cfg.policy_layers,
                                   cfg.policy_state_embed, cfg.policy_latent_embed, cfg.policy_init_std)
        self.obs_rms = RunningMeanStd((self.split.policy_dim,))
        self.belief_rms = RunningMeanStd((belief_dim,))
        self.bonus = (HyperXBonus(cfg, self.split.state_dim, belief_dim)
                      if cfg.bonus_hyperstate > 0 or cfg.bonus_vae_error > 0 else None)
        self.updates = 0

    def policy_inputs(self, obs: torch.Tensor, belief: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.cfg.norm_policy_inputs:
            return self.split.policy_obs(obs), belief
        return (self.obs_rms.normalise(self.split.policy_obs(obs)).float(),
                self.belief_rms.normalise(belief).float())

    def vae_batch(self, states: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
                  decodable: torch.Tensor) -> dict[str, torch.Tensor]:
        """Time-major tensors in the layout of :meth:`VariBADVAE.elbo`."""
        batch = {"states": states, "actions": encode_action(actions, self.action_space), "rewards": rewards,
                 "decodable": decodable}
        if self.to_cell is not None:
            batch["cells"] = self.to_cell(states)
        return batch

    @torch.no_grad()
    def beliefs(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ²) of shape (H+1, B, L) for observations (H+1, B, D) and actions (H, B, ·)."""
        return self.vae.encoder(encode_action(actions, self.action_space), self.split.state(obs[1:]),
                                self.split.reward(obs[1:]))[:2]

    def actor(self, greedy: bool) -> "VariBADActor":
        return VariBADActor(self, greedy)


class VariBADActor:
    """Acts in B meta-episodes: updates the belief with (a_{t−1}, s_t, r_{t−1}), then samples a_t."""

    def __init__(self, agent: VariBADAgent, greedy: bool) -> None:
        self.agent, self.greedy = agent, greedy
        self.last: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def reset(self, num_envs: int) -> None:
        self.mean, self.logvar, self.h = self.agent.vae.encoder.prior(num_envs)
        self.prev_action: torch.Tensor | None = None

    @torch.no_grad()
    def act(self, obs: Any) -> np.ndarray:
        agent = self.agent
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        if self.prev_action is not None:
            self.mean, self.logvar, self.h = agent.vae.encoder.step(
                self.prev_action, agent.split.state(obs), agent.split.reward(obs), self.h)
        belief = torch.cat([self.mean, self.logvar], -1)
        dist, value = agent.policy(*agent.policy_inputs(obs, belief))
        action = PolicyHead.mode(dist) if self.greedy else dist.sample()
        self.last = {"value": value, "logp": dist.log_prob(action), "mean": self.mean, "logvar": self.logvar}
        self.prev_action = encode_action(action, agent.action_space)
        return action.numpy()


class RL2Agent(nn.Module):
    def __init__(self, cfg: PPOConfig, obs_space: gym.Space, action_space: gym.Space) -> None:
        super().__init__()
        self.cfg, self.action_space = cfg, action_space
        self.split = ObsSplit(obs_space, cfg.reward_in_obs, cfg.time_in_obs)
        self.action_dim = action_dim(action_space)
        self.net = RL2ActorCritic(self.split.policy_dim, self.action_dim, action_space, cfg)
        self.updates = 0

    def sequence_inputs(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(o_t, a_{t−1}, r_{t−1}) for t = 0..len(obs)−1 (a_{−1} = 0, r_{−1} from the first obs = 0)."""
        enc = encode_action(actions, self.action_space)
        prev_a = torch.cat([torch.zeros_like(enc[:1]), enc])[:obs.shape[0]]
        return self.split.policy_obs(obs), prev_a, self.split.reward(obs)

    @torch.no_grad()
    def beliefs(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, None]:
        """RL²'s "belief": the features after the GRU at t = 0..H, (H+1, B, latent_dim)."""
        _, _, feat, _ = self.net(*self.sequence_inputs(obs, actions), self.net.initial_state(obs.shape[1]))
        return feat, None

    def actor(self, greedy: bool) -> "RL2Actor":
        return RL2Actor(self, greedy)


class RL2Actor:
    def __init__(self, agent: RL2Agent, greedy: bool) -> None:
        self.agent, self.greedy = agent, greedy
        self.last: dict[str, torch.Tensor] = {}

    def reset(self, num_envs: int) -> None:
        self.h = self.agent.net.initial_state(num_envs)
        self.prev_action = torch.zeros(num_envs, self.agent.action_dim)

    @torch.no_grad()
    def act(self, obs: Any) -> np.ndarray:
        agent = self.agent
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        dist, value, feat, self.h = agent.net(agent.split.policy_obs(obs)[None], self.prev_action[None],
                                              agent.split.reward(obs)[None], self.h)
        action = (PolicyHead.mode(dist) if self.greedy else dist.sample())[0]
        self.last = {"value": value[0], "logp": dist.log_prob(action[None])[0], "features": feat[0]}
        self.prev_action = encode_action(action, agent.action_space)
        return action.numpy()


# =====================================================================================================
# learners: collection for the shared loop, and one PPO iteration
# =====================================================================================================

class _OnPolicyLearner:
    """Records B whole meta-episodes and runs one training iteration when the batch is complete."""

    agent: nn.Module

    def __init__(self, cfg: PPOConfig, env: Any) -> None:
        self.cfg = cfg
        self.H, self.T = int(env.H), int(env.T)
        self.device = pick_device(cfg.device, accelerators=False)
        self.action_space = env.single_action_space
        self.rng = np.random.default_rng(cfg.seed + 1)
        self.reward_norm = ReturnNormaliser(cfg.gamma, cfg.reward_clip)
        self.iterations = 0
        self._actor = None
        self._buf: dict[str, list] = {}
        self._done_batch = True
        self._pending: dict[str, float] | None = None
        self._env_steps = 0

    # ----- collection (the loop's interface) -----------------------------------------------------
    def begin(self, obs: Any, num_envs: int) -> None:
        self._actor = self.actor(greedy=False)
        self._actor.reset(num_envs)
        self.reward_norm.reset(num_envs)
        self._buf = {"obs": [np.asarray(obs, np.float32)], "actions": [], "rewards": [], "rewards_norm": [],
                     "values": [], "logp": [], "terminated": []}
        self._done_batch = False

    def act(self, obs: Any, env_steps: int) -> np.ndarray:
        action = self._actor.act(obs)
        self._buf["values"].append(self._actor.last["value"])
        self._buf["logp"].append(self._actor.last["logp"])
        return action

    def observe(self, actions: np.ndarray, reward: np.ndarray, next_obs: Any, terminated: np.ndarray) -> None:
        r = torch.as_tensor(np.asarray(reward), dtype=torch.float32)
        self._buf["actions"].append(np.asarray(actions))
        self._buf["rewards"].append(r)
        self._buf["rewards_norm"].append(self.reward_norm(r) if self.cfg.norm_rewards else r)
        self._buf["obs"].append(np.asarray(next_obs, np.float32))
        self._buf["terminated"].append(torch.as_tensor(np.asarray(terminated, bool)))

    def update(self, env_steps: int) -> dict[str, float] | None:
        self._env_steps = env_steps
        if self._pending is not None:
            out, self._pending = self._pending, None
            return out
        if not self._done_batch and len(self._buf.get("rewards", [])) == self.H:
            return self._finish_batch(env_steps)
        return None

    def end(self) -> None:
        """Train on a batch that ended before H steps (all meta-episodes terminated early)."""
        if not self._done_batch and self._buf.get("rewards"):
            self._pending = self._finish_batch(self._env_steps)
        self._buf = {}

    def _finish_batch(self, env_steps: int) -> dict[str, float] | None:
        self._done_batch = True
        b = self._buf
        n = len(b["rewards"])
        terminated = torch.stack(b["terminated"]).float()
        ended_before = torch.cat([torch.zeros_like(terminated[:1]), terminated[:-1]]).cummax(0).values
        dones = terminated.clone()
        dones[-1] = 1.0
        actions = torch.as_tensor(np.stack(b["actions"]))
        actions = actions.long() if isinstance(self.action_space, gym.spaces.Discrete) else actions.float()
        batch = {"obs": torch.as_tensor(np.stack(b["obs"])), "actions": actions,
                 "rewards": torch.stack(b["rewards"]), "rewards_norm": torch.stack(b["rewards_norm"]).float(),
                 "values": torch.stack(b["values"]), "logp": torch.stack(b["logp"]),
                 "valid": 1.0 - ended_before, "dones": dones}
        # transition j ends a sub-episode (not the last): the env returned the next sub-episode's first
        # observation instead of s_{j+1}, so the decoder must not reconstruct it
        j = torch.arange(n)
        boundary = (((j + 1) % self.T) == 0) & (j + 1 < self.H)
        batch["decodable"] = batch["valid"] * (~boundary).float()[:, None]
        self.store(batch)
        if env_steps < self.cfg.precollect:
            return None
        self.iterations += 1
        return self.train_iteration(batch, env_steps)

    def store(self, batch: dict[str, torch.Tensor]) -> None:
        """Keep what off-policy parts (the VAE) need; nothing for RL²."""

    @property
    def updates(self) -> int:
        """PPO minibatch steps so far (``iterations`` counts whole PPO iterations)."""
        return self.agent.updates

    def actor(self, greedy: bool):
        """A fresh policy (its own belief or GRU state) taking the mode (``greedy``) or sampling."""
        return self.agent.actor(greedy)

    def eval_policy(self):
        return self.actor(greedy=self.cfg.eval_greedy)

    def rollout_with_beliefs(self, env: Any, tasks: list | None = None, seed: int | None = None,
                             greedy: bool = True):
        """(rollout, beliefs at t = 0..H) of ``actor(greedy)``: VariBAD's (μ, log σ²), RL²'s GRU features
        (:func:`mamba_edu.agents.ppo.probe.rollout_with_beliefs`)."""
        from mamba_edu.agents.ppo.probe import rollout_with_beliefs

        return rollout_with_beliefs(self, env, tasks=tasks, seed=seed, greedy=greedy)

    # ----- state ---------------------------------------------------------------------------------
    def _optimisers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def state_dict(self, with_replay: bool = True) -> dict[str, Any]:
        return {"agent": self.agent.state_dict(), "reward_norm": self.reward_norm.state_dict(),
                "optim": {k: o.state_dict() for k, o in self._optimisers().items()},
                "rng": self.rng.bit_generator.state, "iterations": self.iterations, "updates": self.agent.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.reward_norm.load_state_dict(state["reward_norm"])
        for k, o in self._optimisers().items():
            if "optim" in state:        # absent from a weights-only export (shipped runs)
                o.load_state_dict(state["optim"][k])
        self.rng.bit_generator.state = state["rng"]
        self.iterations, self.agent.updates = int(state["iterations"]), int(state["updates"])

    # ----- shared PPO pieces -------------------------------------------------------------------------
    def advantages(self, rewards: torch.Tensor, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE on the policy rewards; advantages normalised over the valid steps."""
        cfg, valid = self.cfg, batch["valid"]
        adv, ret = gae(rewards * valid, batch["values"], batch["dones"], cfg.gamma, cfg.lam)
        if cfg.norm_advantages:
            v = adv[valid.bool()]
            adv = (adv - v.mean()) / (v.std() + 1e-5)
        return adv, ret

    def ppo_step(self, optimiser: torch.optim.Optimizer, params: list[torch.Tensor], loss: torch.Tensor) -> None:
        check_finite("loss 'ppo'", loss, f"PPO iteration {self.iterations}")
        optimiser.zero_grad()
        loss.backward()
        norm = nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
        check_finite("gradient norm of 'ppo'", norm, f"PPO iteration {self.iterations}")
        optimiser.step()
        self.agent.updates += 1

    def _iteration_charts(self) -> dict[str, float]:
        """The charts every iteration ends with: the reward normaliser's std and the iteration count."""
        return {"charts/reward_norm_std": float(self.reward_norm.rms.var.sqrt()),
                "charts/ppo_iterations": float(self.iterations)}


def _mean(stats: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    return {k: float(torch.stack([s[k] for s in stats]).mean()) for k in stats[0]} if stats else {}


class VariBADLearner(_OnPolicyLearner):
    """VariBAD (``varibad``: global, ``varibad-local``: local reconstruction) and HyperX (``hyperx``)."""

    def __init__(self, cfg: PPOConfig, env: Any) -> None:
        super().__init__(cfg, env)
        cells = cells_fn(env) if cfg.reward_decoder == "bernoulli-cells" else None
        if cfg.reward_decoder == "bernoulli-cells" and cells is None:
            raise ValueError("reward_decoder='bernoulli-cells' needs a grid environment (Rooms-N); use "
                             "reward_decoder=deterministic here")
        self.layout = getattr(getattr(env, "proto", None), "layout", None)
        self.agent = VariBADAgent(cfg, env.single_observation_space, self.action_space, cells)
        self.policy_opt = torch.optim.Adam(self.agent.policy.parameters(), lr=cfg.lr, eps=cfg.adam_eps)
        self.vae_opt = torch.optim.Adam(self.agent.vae.parameters(), lr=cfg.vae_lr)
        discrete = isinstance(self.action_space, gym.spaces.Discrete)
        self.buffer = EpisodeBuffer(cfg.vae_buffer_size, self.H, self.agent.split.state_dim,
                                    () if discrete else self.action_space.shape, np.int64 if discrete else np.float32)

    def _optimisers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {"policy": self.policy_opt, "vae": self.vae_opt}
        if self.agent.bonus is not None and self.agent.bonus.rnd is not None:
            opts["rnd"] = self.agent.bonus.rnd.optimiser
        return opts

    def state_dict(self, with_replay: bool = True) -> dict[str, Any]:
        state = super().state_dict()
        if with_replay:
            state["buffer"] = self.buffer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "buffer" in state:
            self.buffer.load_state_dict(state["buffer"])

    def store(self, batch: dict[str, torch.Tensor]) -> None:
        """Add the batch's meta-episodes to the VAE buffer (only complete ones have H steps)."""
        if batch["rewards"].shape[0] != self.H:
            pad = self.H - batch["rewards"].shape[0]  # an early-ended batch: pad with invalid steps
            batch = {k: torch.cat([v, v[-1:].expand(pad, *v.shape[1:]) * 0]) if k != "obs" else
                     torch.cat([v, v[-1:].expand(pad, *v.shape[1:])]) for k, v in batch.items()}
        split = self.agent.split
        self.buffer.add({"states": split.state(batch["obs"]).numpy().swapaxes(0, 1),
                         "actions": batch["actions"].numpy().swapaxes(0, 1),
                         "rewards": batch["rewards"].numpy().swapaxes(0, 1),
                         "decodable": batch["decodable"].bool().numpy().swapaxes(0, 1),
                         "valid": batch["valid"].bool().numpy().swapaxes(0, 1)})

    def reward_maps(self, beliefs: dict[str, Any], cells: np.ndarray, layout: Any) -> tuple[np.ndarray, str]:
        """The reward decoder's prediction at every cell for the belief means μ_t (paper Sec. 3.2.2:
        "reward prediction using the learned decoder in each state ... for every encoded belief")."""
        from mamba_edu.agents.ppo.probe import reward_map

        maps = reward_map(self, beliefs["mean"][:len(cells), 0], layout=layout)
        deterministic = self.agent.vae.reward_decoder.kind == "deterministic"
        return maps, "reward" if deterministic else "probability"

    def sample_vae_batch(self, n: int) -> dict[str, torch.Tensor]:
        data = {k: torch.as_tensor(v).swapaxes(0, 1) for k, v in self.buffer.sample(n, self.rng).items()}
        return self.agent.vae_batch(data["states"], data["actions"], data["rewards"], data["decodable"])

    def train_iteration(self, batch: dict[str, torch.Tensor], env_steps: int) -> dict[str, float]:
        """One VariBAD / HyperX iteration on a recorded batch: steps 1–7 of the module docstring."""
        mean, logvar = self.agent.beliefs(batch["obs"], batch["actions"])   # 1. (the encoder is unchanged)
        beliefs = torch.cat([mean, logvar], -1)
        rewards, metrics = self._policy_rewards(batch, mean, logvar, env_steps)                  # 2.
        adv, returns = self.advantages(rewards, batch)                                           # 3.
        metrics.update(self._ppo_epochs(self._ppo_samples(batch, beliefs, adv, returns)))        # 4., 5.
        metrics.update(self._vae_updates())                                                      # 6.
        if self.agent.bonus is not None and self.agent.bonus.rnd is not None:                    # 7.
            metrics["losses/rnd"] = self._rnd_update(horizon=batch["rewards"].shape[0])
        return {**metrics, **self._iteration_charts()}

    def _policy_rewards(self, batch: dict[str, torch.Tensor], mean: torch.Tensor, logvar: torch.Tensor,
                        env_steps: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Step 2: the normalised task reward, plus HyperX's bonuses on the hyper-states s⁺_{t+1} = (s_{t+1},
        b_{t+1}) (:mod:`mamba_edu.agents.ppo.hyperx`; the paper's HyperX baseline, Sec. 4)."""
        agent = self.agent
        if agent.bonus is None:
            return batch["rewards_norm"], {}
        states = agent.split.state(batch["obs"])
        vae_error = self._vae_reward_error(batch, mean, logvar) if self.cfg.bonus_vae_error > 0 else None
        beliefs = torch.cat([mean, logvar], -1)
        bonus, bonus_metrics = agent.bonus(states[1:], beliefs[1:], vae_error, batch["valid"], env_steps)
        return batch["rewards_norm"] + bonus, dict(bonus_metrics)

    @torch.no_grad()
    def _vae_reward_error(self, batch: dict[str, torch.Tensor], mean: torch.Tensor,
                          logvar: torch.Tensor) -> torch.Tensor:
        """HyperX's VAE-error signal (H, B): the reward decoder's NLL of r_t from a sample of b_{t+1}, which
        has already seen r_t; zero on steps the decoder must not reconstruct."""
        agent = self.agent
        H, B = batch["rewards"].shape
        vb = agent.vae_batch(agent.split.state(batch["obs"]), batch["actions"], batch["rewards"],
                             batch["decodable"])
        t, b = torch.arange(H)[:, None].expand(H, B), torch.arange(B)[None].expand(H, B)
        error = agent.vae.reward_nll(sample_gaussian(mean[1:], logvar[1:]), vb, (t, b))
        return error * batch["decodable"]

    def _ppo_samples(self, batch: dict[str, torch.Tensor], beliefs: torch.Tensor, adv: torch.Tensor,
                     returns: torch.Tensor) -> dict[str, torch.Tensor]:
        """Step 4 and the samples of step 5: update the policy's input normalisation first, then recompute
        the old log-probabilities under it (as the original VariBAD code does); every valid time step, flattened."""
        agent, actions = self.agent, batch["actions"]
        H, B = batch["rewards"].shape
        mask = batch["valid"].bool()
        if self.cfg.norm_policy_inputs:
            agent.obs_rms.update(agent.split.policy_obs(batch["obs"][:-1])[mask])
            agent.belief_rms.update(beliefs[:-1][mask])
        obs_in, belief_in = agent.policy_inputs(batch["obs"][:-1], beliefs[:-1])
        with torch.no_grad():
            old_logp = agent.policy(obs_in, belief_in)[0].log_prob(actions)
        flat = mask.reshape(-1).nonzero()[:, 0]
        return {"obs": obs_in.reshape(H * B, -1)[flat], "belief": belief_in.reshape(H * B, -1)[flat],
                "actions": actions.reshape(H * B, *actions.shape[2:])[flat],
                "old_logp": old_logp.reshape(-1)[flat], "adv": adv.reshape(-1)[flat],
                "returns": returns.reshape(-1)[flat], "values": batch["values"].reshape(-1)[flat]}

    def _ppo_epochs(self, samples: dict[str, torch.Tensor]) -> dict[str, float]:
        """Step 5: PPO epochs on random minibatches of time steps; the belief is a (detached) policy input,
        so no RL gradient reaches the encoder (paper Sec. 3.1)."""
        cfg, policy, stats = self.cfg, self.agent.policy, []
        for _ in range(cfg.epochs):
            for mb in minibatches(len(samples["adv"]), cfg.minibatches, self.rng):
                mb = torch.as_tensor(mb)
                s = {k: v[mb] for k, v in samples.items()}
                dist, value = policy(s["obs"], s["belief"])
                loss, mb_stats = ppo_loss(dist.log_prob(s["actions"]), s["old_logp"], s["adv"], value, s["values"],
                                          s["returns"], dist.entropy(), cfg.clip, cfg.value_clip, cfg.huber,
                                          cfg.value_coef, cfg.entropy)
                self.ppo_step(self.policy_opt, list(policy.parameters()), loss)
                stats.append(mb_stats)
        metrics = _mean(stats)
        metrics["charts/explained_variance"] = explained_variance(samples["values"], samples["returns"])
        return metrics

    def _vae_updates(self) -> dict[str, float]:
        """Step 6: ``vae_updates`` ELBO steps (global or local reconstruction, paper Sec. 3.1–3.2) on
        meta-episodes sampled from the buffer; the ELBO alone shapes the belief."""
        stats = []
        for _ in range(self.cfg.vae_updates):
            loss, s = self.agent.vae.elbo(self.sample_vae_batch(self.cfg.vae_batch_size), self.rng)
            self._vae_step(loss)
            stats.append(s)
        return _mean(stats)

    def _vae_step(self, loss: torch.Tensor) -> None:
        """One optimiser step of the VAE on ``loss``, refusing a non-finite loss or gradient norm."""
        where = f"PPO iteration {self.iterations}"
        check_finite("loss 'vae'", loss, where)
        self.vae_opt.zero_grad()
        loss.backward()
        grads = [p.grad for p in self.agent.vae.parameters() if p.grad is not None]
        check_finite("gradient norm of 'vae'", nn.utils.get_total_norm(grads), where)
        self.vae_opt.step()

    def _rnd_update(self, horizon: int) -> float:
        """Step 7 (HyperX): one RND predictor step on hyper-states (s_{t+1}, b_{t+1}) of stored meta-episodes,
        ≈√n random times t < ``horizon`` in each of ≈√n of them (n = ``rnd_batch_size``)."""
        cfg, agent = self.cfg, self.agent
        per = max(int(np.sqrt(cfg.rnd_batch_size)), 1)
        vb = self.sample_vae_batch(max(cfg.rnd_batch_size // per, 1))
        with torch.no_grad():
            m, lv, _ = agent.vae.encoder(vb["actions"], vb["states"][1:], vb["rewards"])
        t = torch.as_tensor(self.rng.integers(0, horizon, size=(per, m.shape[1])))
        b = torch.arange(m.shape[1])
        inputs = [vb["states"][1:][t, b].reshape(-1, agent.split.state_dim),
                  torch.cat([m[t + 1, b], lv[t + 1, b]], -1).reshape(-1, 2 * cfg.latent_dim)]
        return agent.bonus.rnd.update(inputs)


class RL2Learner(_OnPolicyLearner):
    """RL²: a GRU actor-critic trained by PPO through time."""

    def __init__(self, cfg: PPOConfig, env: Any) -> None:
        super().__init__(cfg, env)
        self.agent = RL2Agent(cfg, env.single_observation_space, self.action_space)
        self.opt = torch.optim.Adam(self.agent.parameters(), lr=cfg.lr, eps=cfg.adam_eps)

    def _optimisers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.opt}

    def train_iteration(self, batch: dict[str, torch.Tensor], env_steps: int) -> dict[str, float]:
        cfg, net = self.cfg, self.agent.net
        H, B = batch["rewards"].shape
        valid, actions = batch["valid"], batch["actions"]
        obs, prev_a, prev_r = self.agent.sequence_inputs(batch["obs"][:-1], actions)

        # GAE on the normalised task reward
        adv, returns = self.advantages(batch["rewards_norm"], batch)

        # PPO epochs; a minibatch = whole meta-episodes re-read by the GRU from step 0
        stats = []
        for _ in range(cfg.epochs):
            for mb in minibatches(B, cfg.minibatches, self.rng):
                mb = torch.as_tensor(mb)
                dist, value, _, _ = net(obs[:, mb], prev_a[:, mb], prev_r[:, mb], net.initial_state(len(mb)))
                loss, s = ppo_loss(dist.log_prob(actions[:, mb]), batch["logp"][:, mb], adv[:, mb], value,
                                   batch["values"][:, mb], returns[:, mb], dist.entropy(), cfg.clip, cfg.value_clip,
                                   cfg.huber, cfg.value_coef, cfg.entropy, weight=valid[:, mb])
                self.ppo_step(self.opt, list(self.agent.parameters()), loss)
                stats.append(s)
        metrics = _mean(stats)
        m = valid.bool()
        metrics["charts/explained_variance"] = explained_variance(batch["values"][m], returns[m])
        return {**metrics, **self._iteration_charts()}


def build_learner(algo: str, cfg: PPOConfig, env: Any):
    """The learner of ``algo`` (``varibad``, ``varibad-local``, ``hyperx``, ``rl2``) for a batched env."""
    if cfg.method == "rl2":
        return RL2Learner(cfg, env)
    return VariBADLearner(cfg, env)
