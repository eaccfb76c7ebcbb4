"""Meta-RL task distributions as gymnasium environments (paper Sec. 4 and Appendix C).

Importing this package registers every id in :data:`ENV_IDS` (``mamba_edu/PointRobot-v0``,
``mamba_edu/Rooms-3-v0``, ...). See :mod:`mamba_edu.envs.base` for the task API and
:mod:`mamba_edu.envs.meta_episode` for the meta-episode wrapper.
"""
from mamba_edu.envs.base import MetaTaskEnv
from mamba_edu.envs.meta_episode import MetaEpisode
from mamba_edu.envs.registration import (
    ENV_IDS,
    FAMILIES,
    make,
    make_batched,
    register_all,
    resolve_env_id,
    short_name,
)

register_all()

__all__ = ["ENV_IDS", "FAMILIES", "MetaEpisode", "MetaTaskEnv", "make", "make_batched", "register_all",
           "resolve_env_id", "short_name"]
