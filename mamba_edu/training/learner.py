"""The learner contract: what the shared training loop asks of every algorithm.

A *learner* connects one algorithm (MAMBA/Dreamer, VariBAD, HyperX, RL²) to the loop of
:mod:`mamba_edu.training.loop`. The loop owns the environments, the run folder, evaluation and
checkpoints; the learner owns the networks, the data it keeps (a replay of whole meta-episodes or
an on-policy batch) and when to train. One batch of B meta-episodes of H = K·T steps goes
(:func:`mamba_edu.training.collect.collect_batch`)::

    begin(obs, B)
    repeat until every meta-episode has ended (H steps unless some end early):
        actions = act(obs, env_steps)
        obs, reward, terminated, ... = env.step(actions)
        observe(actions, reward, obs, terminated)
        update(env_steps)          # env_steps counts the B·t environment steps so far
    end()
    update(env_steps)              # for learners that train between batches

A meta-episode is the paper's unit of experience (Sec. 2.1): K sub-episodes of the same task, the
previous reward and the time in the observation (Sec. 3.3(a)), so a policy that remembers can infer
the task. ``act`` during training samples (it explores); evaluation uses :meth:`Learner.actor`, a
separate policy object that never changes how training acts.

:class:`BeliefProbe` is an optional extra for the reward-prediction heatmaps (paper Fig. 2): a
learner whose belief can be decoded into predicted rewards.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from mamba_edu.rollout import BatchPolicy, Rollout


@runtime_checkable
class Learner(Protocol):
    """What :func:`mamba_edu.training.loop.train` calls; implemented by
    :class:`~mamba_edu.agents.dreamer.learner.DreamerLearner`,
    :class:`~mamba_edu.agents.ppo.learner.VariBADLearner` and :class:`~mamba_edu.agents.ppo.learner.RL2Learner`.
    """

    #: the run's resolved config (a dataclass with ``seed``, ``steps``, ``eval_greedy``, ...)
    cfg: Any

    # ----- collection: one batch of meta-episodes in lock-step --------------------------------------
    def begin(self, obs: Any, num_envs: int) -> None:
        """Start ``num_envs`` fresh meta-episodes whose first (batched) observation is ``obs``."""

    def act(self, obs: Any, env_steps: int) -> np.ndarray:
        """One training action per environment; ``env_steps`` (the loop's counter) lets a learner act
        randomly while it pre-fills its replay."""

    def observe(self, actions: np.ndarray, reward: np.ndarray, next_obs: Any, terminated: np.ndarray) -> None:
        """Record the transition the environments made after ``actions``."""

    def update(self, env_steps: int) -> dict[str, float] | None:
        """Train as much as is due after ``env_steps``; returns the metrics of the last gradient update
        made here (TensorBoard tags such as ``losses/...``), or None when nothing was trained."""

    def end(self) -> None:
        """The batch's meta-episodes have ended: store them (replay) or finish the batch (PPO)."""

    # ----- progress and acting ------------------------------------------------------------------------
    @property
    def updates(self) -> int:
        """Gradient updates so far (Dreamer: train steps; PPO: minibatch steps); checkpointed."""

    def actor(self, greedy: bool) -> BatchPolicy:
        """A policy (:class:`mamba_edu.rollout.BatchPolicy`) that takes the mode (``greedy=True``) or
        samples; it has its own memory, so using it leaves training's acting unchanged."""

    def eval_policy(self) -> BatchPolicy:
        """The policy evaluation runs: ``actor(cfg.eval_greedy)``."""

    # ----- state ----------------------------------------------------------------------------------------
    def state_dict(self, with_replay: bool = True) -> dict[str, Any]:
        """Everything needed to continue training exactly; ``with_replay=False`` leaves out the stored
        data (the best checkpoint, exports)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (a state without the replay keeps the current one)."""


@runtime_checkable
class BeliefProbe(Protocol):
    """A learner whose belief about the task can be decoded into a reward map of Rooms-N (paper
    Sec. 3.2.2, Fig. 2): VariBAD's posterior through its reward decoder, or Dreamer/MAMBA's RSSM state
    through the world model. RL² has no decoder and is not one."""

    def rollout_with_beliefs(self, env: Any, tasks: list | None = None, seed: int | None = None,
                             greedy: bool = True) -> tuple[Rollout, dict[str, Any]]:
        """Roll out ``actor(greedy)`` on a batched env and return (rollout, the belief at every step)."""

    def reward_maps(self, beliefs: dict[str, Any], cells: np.ndarray, layout: Any) -> tuple[np.ndarray, str]:
        """Decode the beliefs of a one-environment rollout at steps ``0 .. len(cells) - 1`` (``cells[t]``
        the agent's cell at step t) into maps of shape (len(cells), width, height), NaN on walls; and
        what they hold: ``"probability"`` (p(r = +1)) or ``"reward"`` (r̂)."""
