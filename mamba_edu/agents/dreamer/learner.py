"""DreamerLearner: connects :class:`DreamerAgent` to the shared training loop.

It implements :class:`mamba_edu.training.learner.Learner`: it records the batched environment's
transitions into whole meta-episodes (the replay's DreamerV3 convention; MAMBA trains on them from
step 0, paper Sec. 3.3), acts randomly during prefill, and runs the updates that have fallen due
(``updates_per_step``) after each environment step, or after each collected batch
(``update_after_collection``, the authors' loop). It is also a
:class:`~mamba_edu.training.learner.BeliefProbe`: the RSSM posterior is its belief (Sec. 3.1), and the
world model imagines its way to every cell of Rooms-N to decode it into rewards (Fig. 2).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mamba_edu.agents.dreamer.agent import DreamerActor, DreamerAgent
from mamba_edu.agents.dreamer.config import DreamerConfig
from mamba_edu.agents.dreamer.replay import Replay


class DreamerLearner:
    """MAMBA, Dreamer-Tune and Dreamer-Vanilla (the config decides) as a learner of the shared loop."""

    def __init__(self, cfg: DreamerConfig, obs_space, action_space, H: int) -> None:
        self.cfg = cfg
        self.agent = DreamerAgent(cfg, obs_space, action_space, H)
        self.replay = Replay(cfg.replay_capacity, H + 1, self.agent.replay_layout, self.agent.action_dim, cfg.seed)
        self.agent.prepare_replay(self.replay)
        self.rng = np.random.default_rng(cfg.seed + 1)
        self.action_space = action_space
        self._buf: dict[str, list] = {}

    # ----- collection --------------------------------------------------------------------------
    def _record_obs(self, obs: Any) -> None:
        if isinstance(obs, dict):
            self._buf["image"].append(np.asarray(obs["image"]))
            self._buf["vector"].append(np.asarray(obs["vector"], np.float32))
        else:
            self._buf["obs"].append(np.asarray(obs, np.float32))

    def begin(self, obs: Any, num_envs: int) -> None:
        self.agent.reset(num_envs)
        self._buf = {k: [] for k in self.replay.obs_keys}
        self._buf.update(prev_action=[np.zeros((num_envs, self.agent.action_dim), np.float32)],
                         reward=[np.zeros(num_envs, np.float32)], terminal=[np.zeros(num_envs, np.float32)])
        self._record_obs(obs)

    def act(self, obs: Any, env_steps: int) -> np.ndarray:
        n = len(self._buf["reward"][0])
        if env_steps < self.cfg.prefill:
            if self.agent.discrete:
                return self.rng.integers(0, self.action_space.n, size=n)
            return self.rng.uniform(-1.0, 1.0, size=(n, *self.action_space.shape))
        return self.agent.act(obs)

    def observe(self, actions: np.ndarray, reward: np.ndarray, next_obs: Any, terminated: np.ndarray) -> None:
        self._buf["prev_action"].append(self.agent.encode_action(actions))
        self._buf["reward"].append(np.asarray(reward, np.float32))
        self._buf["terminal"].append(np.asarray(terminated, np.float32))
        self._record_obs(next_obs)

    def end(self) -> None:
        """Store the finished meta-episodes (batch-major) in replay."""
        episodes = {k: np.swapaxes(np.stack(v), 0, 1) for k, v in self._buf.items()}
        if episodes["reward"].shape[1] != self.replay.length:
            raise RuntimeError(f"meta-episode has {episodes['reward'].shape[1]} steps, expected {self.replay.length}")
        slots = self.replay.add(episodes)
        self.agent.episodes_added(self.replay, slots)
        self._buf = {}

    # ----- training ----------------------------------------------------------------------------
    def update(self, env_steps: int) -> dict[str, float] | None:
        """Run the updates due after ``env_steps``; with ``update_after_collection`` only between
        batches of meta-episodes (the loop calls this after every env step and after ``end``)."""
        if self.cfg.update_after_collection and self._buf:
            return None
        metrics = None
        while len(self.replay) > 0 and self.agent.updates < self.agent.updates_due(env_steps):
            metrics = self.agent.train_step(self.replay, env_steps)
        return metrics

    @property
    def updates(self) -> int:
        """Train steps so far (each: one world-model and one actor-critic update)."""
        return self.agent.updates

    def actor(self, greedy: bool) -> DreamerActor:
        """The agent as a policy taking the mode (``greedy``) or sampling; ``agent.greedy`` is untouched."""
        return self.agent.actor(greedy)

    def eval_policy(self) -> DreamerActor:
        """The policy evaluation runs: the mode with ``eval_greedy`` (the authors' protocol), else samples.
        Training keeps sampling whatever evaluation does."""
        return self.actor(self.cfg.eval_greedy)

    # ----- looking inside (the Fig. 2 heatmaps) --------------------------------------------------------
    def rollout_with_beliefs(self, env: Any, tasks: list | None = None, seed: int | None = None,
                             greedy: bool = True):
        """(rollout, RSSM posterior before each action: tensors of shape (H, B, ...)) of ``actor(greedy)``."""
        from mamba_edu.agents.dreamer.probe import rollout_with_latents

        return rollout_with_latents(_ActorShowingBelief(self.agent, greedy), env, tasks=tasks, seed=seed)

    def reward_maps(self, beliefs: dict[str, Any], cells: np.ndarray, layout: Any) -> tuple[np.ndarray, str]:
        """The world model's predicted reward at every cell, imagined from each step's posterior
        (:func:`mamba_edu.agents.dreamer.probe.rooms_reward_map`)."""
        from mamba_edu.agents.dreamer.probe import rooms_reward_map

        maps = [rooms_reward_map(self.agent, {k: v[t] for k, v in beliefs.items()}, layout, int(cells[t]))
                for t in range(len(cells))]
        return np.stack(maps), "reward"

    # ----- state -------------------------------------------------------------------------------
    def state_dict(self, with_replay: bool = True) -> dict[str, Any]:
        state = {"agent": self.agent.state_dict(), "rng": self.rng.bit_generator.state}
        if with_replay:
            state["replay"] = self.replay.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.rng.bit_generator.state = state["rng"]
        if "replay" in state:
            self.replay.load_state_dict(state["replay"])


class _ActorShowingBelief:
    """``agent.actor(greedy)`` that also shows the agent's posterior state, which
    :func:`~mamba_edu.agents.dreamer.probe.rollout_with_latents` records after every action."""

    def __init__(self, agent: DreamerAgent, greedy: bool) -> None:
        self._agent, self._actor = agent, agent.actor(greedy)

    def reset(self, num_envs: int) -> None:
        self._actor.reset(num_envs)

    def act(self, obs: Any) -> np.ndarray:
        return self._actor.act(obs)

    @property
    def state(self) -> dict[str, Any]:
        return self._agent.state
