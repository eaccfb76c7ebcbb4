"""Registration of every task family under the ``mamba_edu/`` gymnasium namespace.

Each id builds ``MetaEpisode(Family(**kwargs))`` — the full meta-episode environment (K
sub-episodes of T steps, observation augmented with the previous reward and t/(K·T)).
``gym.make(id, reward_in_obs=False)`` etc. switch the augmentation off (paper App. G
ablations); ``K=`` and ``T=`` override the defaults.

Short names (``"Rooms-3"``, ``"PointRobot"``) are accepted by :func:`resolve_env_id`.
"""
from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym

NAMESPACE = "mamba_edu"

#: short name -> (family class "module:Class", family kwargs, native batched class or None, needs extra)
FAMILIES: dict[str, tuple[str, dict[str, Any], str | None, str | None]] = {
    "PointRobot": ("mamba_edu.envs.point_robot:PointRobotEnv", {}, "mamba_edu.envs.point_robot:BatchedPointRobot", None),
    "PointRobotWind": ("mamba_edu.envs.point_robot:PointRobotWindEnv", {}, "mamba_edu.envs.point_robot:BatchedPointRobotWind", None),
    "EscapeRoom": ("mamba_edu.envs.escape_room:EscapeRoomEnv", {}, "mamba_edu.envs.escape_room:BatchedEscapeRoom", None),
    **{f"Rooms-{n}": ("mamba_edu.envs.rooms:RoomsEnv", {"n_rooms": n}, "mamba_edu.envs.rooms:BatchedRooms", None)
       for n in range(1, 9)},
    **{f"Reacher-{n}": ("mamba_edu.envs.reacher:ReacherNEnv", {"n_goals": n}, None, None) for n in range(1, 5)},
    "ReacherPixels": ("mamba_edu.envs.reacher:ReacherPixelsEnv", {}, None, None),
    "HumanoidDir": ("mamba_edu.envs.humanoid_dir:HumanoidDirEnv", {}, None, None),
    "PandaReacher": ("mamba_edu.envs.panda_reacher:PandaReacherEnv", {}, None, "panda"),
    "MetaBandit": ("mamba_edu.envs.bandit:MetaBanditEnv", {}, None, None),
}

ENV_IDS: list[str] = [f"{NAMESPACE}/{name}-v0" for name in FAMILIES]


def _load(path: str) -> Any:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def make_meta_env(family: str, family_kwargs: dict[str, Any] | None = None, K: int | None = None,
                  T: int | None = None, reward_in_obs: bool = True, time_in_obs: bool = True,
                  render_mode: str | None = None, **extra: Any) -> gym.Env:
    """Entry point used by every registered id: the family wrapped in :class:`MetaEpisode`."""
    from mamba_edu.envs.meta_episode import MetaEpisode

    cls = _load(FAMILIES[family][0])
    kwargs = {**(family_kwargs or {}), **extra}
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    return MetaEpisode(cls(**kwargs), K=K, T=T, reward_in_obs=reward_in_obs, time_in_obs=time_in_obs)


def register_all() -> None:
    for name, (_, kwargs, _, _) in FAMILIES.items():
        env_id = f"{NAMESPACE}/{name}-v0"
        if env_id in gym.registry:
            continue
        gym.register(id=env_id, entry_point="mamba_edu.envs.registration:make_meta_env",
                     kwargs={"family": name, "family_kwargs": dict(kwargs)}, disable_env_checker=True)


def resolve_env_id(name: str) -> str:
    """Map ``"Rooms-3"``, ``"Rooms-3-v0"`` or ``"mamba_edu/Rooms-3-v0"`` to the registered id.

    Raises ``ValueError`` naming the valid choices for anything else (e.g. ``Rooms-9``).
    """
    if not isinstance(name, str):
        raise ValueError(f"environment name must be a string, got {name!r}")
    short = name
    if short.startswith(NAMESPACE + "/"):
        short = short[len(NAMESPACE) + 1:]
    if short.endswith("-v0"):
        short = short[:-3]
    if short not in FAMILIES:
        hint = ""
        if short.startswith("Rooms-"):
            hint = " (Rooms-N exists for N = 1..8)"
        elif short.startswith("Reacher-"):
            hint = " (Reacher-N exists for N = 1..4)"
        raise ValueError(f"unknown environment {name!r}{hint}; valid: {', '.join(FAMILIES)}")
    return f"{NAMESPACE}/{short}-v0"


def short_name(env_id: str) -> str:
    return resolve_env_id(env_id)[len(NAMESPACE) + 1:-3]


def make(name: str, **kwargs: Any) -> gym.Env:
    """``gym.make`` with short names and a clear error for unknown ids."""
    return gym.make(resolve_env_id(name), **kwargs)


def make_batched(name: str, num_envs: int, native: bool = True, **kwargs: Any):
    """B meta-episodes stepped in lock-step: the native numpy class when the family has one."""
    short = short_name(name)
    _, family_kwargs, batched_path, _ = FAMILIES[short]
    if native and batched_path is not None:
        cls = _load(batched_path)
        return cls(num_envs, **{**family_kwargs, **kwargs})
    from mamba_edu.envs.batched import VectorMetaEnv

    return VectorMetaEnv(resolve_env_id(short), num_envs, **kwargs)
