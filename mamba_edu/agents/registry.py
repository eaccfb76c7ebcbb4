"""The one place that maps an algorithm name to its config class, its presets and its learner.

:data:`ALGORITHMS` is the table: each name (``mamba``, ``varibad-local``, ...) gives its
:class:`Algorithm` — the family (``dreamer`` or ``ppo``), the config dataclass, the algorithm's own
preset, the extra presets that stack on it, how a config is resolved and rebuilt from a saved run,
and the learner factory. The training loop, the CLI (``--algo``, ``--preset``, ``--set``) and the
sweep specs ask this module; adding an algorithm is one row here (``docs/architecture.md``).

The config modules are light (dataclasses and dicts) and imported here; the learners (torch) are
imported only when one is built.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mamba_edu.agents import ALGOS
from mamba_edu.agents.dreamer import config as dreamer_config
from mamba_edu.agents.ppo import config as ppo_config


def _dreamer_learner(algo: str, cfg: Any, env: Any):
    from mamba_edu.agents.dreamer.learner import DreamerLearner

    return DreamerLearner(cfg, env.single_observation_space, env.single_action_space, env.H)


def _ppo_learner(algo: str, cfg: Any, env: Any):
    from mamba_edu.agents.ppo.learner import build_learner

    return build_learner(algo, cfg, env)


@dataclass(frozen=True)
class Family:
    """What the algorithms of one family share: the config class and module, presets, learner factory."""

    name: str
    config_class: type
    extra_presets: dict[str, dict[str, Any]]
    resolve: Callable[..., Any]                  #: (algo, env, presets, overrides) → validated config
    from_saved: Callable[[dict[str, Any]], Any]  #: config.json's "config" → validated config
    learner: Callable[[str, Any, Any], Any]      #: (algo, cfg, batched env) → learner


@dataclass(frozen=True)
class Algorithm:
    """One row of the table: an algorithm name, its family and its own preset."""

    name: str
    family: Family
    preset: dict[str, Any]

    @property
    def config_class(self) -> type:
        return self.family.config_class

    @property
    def extra_presets(self) -> dict[str, dict[str, Any]]:
        return self.family.extra_presets


DREAMER = Family("dreamer", dreamer_config.DreamerConfig, dreamer_config.EXTRA_PRESETS, dreamer_config.resolve_config,
                 dreamer_config.config_from_dict, _dreamer_learner)
PPO = Family("ppo", ppo_config.PPOConfig, ppo_config.EXTRA_PRESETS, ppo_config.resolve_config,
             ppo_config.config_from_dict, _ppo_learner)
FAMILIES: dict[str, Family] = {f.name: f for f in (DREAMER, PPO)}

#: algorithm name → (family: config class, extra presets, learner factory; its own preset)
ALGORITHMS: dict[str, Algorithm] = {
    **{name: Algorithm(name, DREAMER, dreamer_config.ALGO_PRESETS[name])
       for name in ("mamba", "dreamer-tune", "dreamer-vanilla")},
    **{name: Algorithm(name, PPO, ppo_config.ALGO_PRESETS[name])
       for name in ("varibad", "varibad-local", "hyperx", "rl2")},
}

DREAMER_ALGOS = tuple(a for a, row in ALGORITHMS.items() if row.family is DREAMER)
PPO_ALGOS = tuple(a for a, row in ALGORITHMS.items() if row.family is PPO)
AVAILABLE = tuple(ALGORITHMS)


def check_algo(algo: str) -> None:
    """``ValueError`` naming the valid algorithms unless ``algo`` is one that this version trains."""
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; valid: {', '.join(ALGOS)}")
    if algo not in AVAILABLE:
        raise ValueError(f"algorithm {algo!r} is not implemented in this version yet; "
                         f"available: {', '.join(AVAILABLE)}")


def algorithm(algo: str) -> Algorithm:
    """The table's row of ``algo`` (``ValueError`` naming the valid ones otherwise)."""
    check_algo(algo)
    return ALGORITHMS[algo]


def config_class(algo: str) -> type:
    """The config dataclass of ``algo``'s family (:class:`DreamerConfig` or :class:`PPOConfig`)."""
    return algorithm(algo).config_class


def family_of(algo: str) -> str:
    """'dreamer' or 'ppo'."""
    return algorithm(algo).family.name


def extra_presets(algo: str) -> dict[str, dict[str, Any]]:
    """The presets that stack on ``algo``'s own (``--preset``)."""
    return algorithm(algo).extra_presets


def resolve_config(algo: str, env: str, presets: list[str] | None, overrides: dict[str, Any] | None):
    """``algo``'s config on ``env``: its preset → the env's settings → ``presets`` → ``overrides``, validated."""
    return algorithm(algo).family.resolve(algo, env, presets, overrides)


def config_from_saved(algo: str, values: dict[str, Any]):
    """The resolved config a run recorded (``config.json``'s ``"config"``) as its dataclass again.

    Runs are rebuilt from what they recorded, not from today's presets, so a preset that changes
    later never changes a saved run (fields added since are filled as the run had them).
    """
    return algorithm(algo).family.from_saved(values)


def build_learner(algo: str, cfg, env):
    """The learner of ``algo`` for config ``cfg`` on the batched env ``env``."""
    return algorithm(algo).family.learner(algo, cfg, env)


__all__ = ["ALGORITHMS", "AVAILABLE", "Algorithm", "DREAMER_ALGOS", "FAMILIES", "Family", "PPO_ALGOS", "algorithm",
           "build_learner", "check_algo", "config_class", "config_from_saved", "extra_presets", "family_of",
           "resolve_config"]
