"""Algorithm name → config resolution and learner construction (used by the loop and the CLI)."""
from __future__ import annotations

from typing import Any

from mamba_edu.agents import ALGOS

DREAMER_ALGOS = ("mamba", "dreamer-tune", "dreamer-vanilla")
PPO_ALGOS = ("varibad", "varibad-local", "hyperx", "rl2")
AVAILABLE = DREAMER_ALGOS + PPO_ALGOS


def check_algo(algo: str) -> None:
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; valid: {', '.join(ALGOS)}")
    if algo not in AVAILABLE:
        raise ValueError(f"algorithm {algo!r} is not implemented in this version yet (tracked in issue #4); "
                         f"available: {', '.join(AVAILABLE)}")


def resolve_config(algo: str, env: str, presets: list[str] | None, overrides: dict[str, Any] | None):
    check_algo(algo)
    if algo in PPO_ALGOS:
        from mamba_edu.agents.ppo.config import resolve_config as ppo_config

        return ppo_config(algo, env, presets, overrides)
    from mamba_edu.agents.dreamer.config import resolve_config as dreamer_config

    return dreamer_config(algo, env, presets, overrides)


def config_from_saved(algo: str, values: dict[str, Any]):
    """The resolved config a run recorded (``config.json``'s ``"config"``) as its dataclass again.

    Runs are rebuilt from what they recorded, not from today's presets, so a preset that changes
    later never changes a saved run (fields added since are filled as the run had them).
    """
    check_algo(algo)
    if algo in PPO_ALGOS:
        from mamba_edu.agents.ppo.config import PPOConfig
        from mamba_edu.agents.presets import apply_fields

        return apply_fields(PPOConfig(), dict(values), "saved config").validate()
    from mamba_edu.agents.dreamer.config import config_from_dict

    return config_from_dict(values)


def build_learner(algo: str, cfg, env):
    check_algo(algo)
    if algo in PPO_ALGOS:
        from mamba_edu.agents.ppo.learner import build_learner as ppo_learner

        return ppo_learner(algo, cfg, env)
    from mamba_edu.agents.dreamer.learner import DreamerLearner

    return DreamerLearner(cfg, env.single_observation_space, env.single_action_space, env.H)
