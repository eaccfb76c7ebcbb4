"""Reference policies and returns: what a (near-)Bayes-optimal agent achieves on each family.

* Rooms-N: the exact Bayes-optimal expected meta-episode return (belief over goal corners,
  exact enumeration) and a scripted policy that achieves it;
* PointRobot, PointRobotWind, EscapeRoom: a strong scripted explore-then-exploit policy and its
  return measured over 1000 held-out tasks;
* MetaBandit: the exact Bayes-optimal return and the scripted policy that attains it.

Every reference policy is a :class:`mamba_edu.rollout.BatchPolicy` that sees only the
observation (position, previous reward, time) — never the task — so it is a real meta-RL
policy, not an oracle. ``python -m mamba_edu bayes-optimal --env ENV`` prints
:func:`reference`.
"""
from __future__ import annotations

import importlib
from typing import Any

from mamba_edu.envs.registration import short_name

#: family short name -> module providing ``reference(n_tasks, seed)`` and ``scripted_policy()``
_MODULES = {
    "PointRobot": "mamba_edu.references.point_robot",
    "PointRobotWind": "mamba_edu.references.point_robot",
    "EscapeRoom": "mamba_edu.references.escape_room",
    **{f"Rooms-{n}": "mamba_edu.references.rooms" for n in range(1, 9)},
    "MetaBandit": "mamba_edu.references.bandit",
}


def has_reference(env_name: str) -> bool:
    return short_name(env_name) in _MODULES


def _module(env_name: str):
    name = short_name(env_name)
    if name not in _MODULES:
        raise ValueError(f"no Bayes-optimal reference for {name!r}; defined for: {', '.join(_MODULES)}")
    return name, importlib.import_module(_MODULES[name])


def reference(env_name: str, n_tasks: int = 1000, seed: int = 12345) -> dict[str, Any]:
    """The reference return of ``env_name`` as a JSON-ready dict.

    Keys: ``env``, ``return_mean``, ``return_std`` (of the scripted policy's meta-episode
    return over ``n_tasks`` tasks), ``sub_episode_returns_mean``, ``exact`` (True when
    ``bayes_optimal_return`` is computed exactly), ``bayes_optimal_return`` (exact value or
    None), ``method`` (one sentence).
    """
    name, mod = _module(env_name)
    return mod.reference(name, n_tasks=n_tasks, seed=seed)


def scripted_policy(env_name: str):
    """The scripted reference policy of ``env_name`` (a BatchPolicy)."""
    name, mod = _module(env_name)
    return mod.scripted_policy(name)
