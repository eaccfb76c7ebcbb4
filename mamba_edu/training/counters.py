"""The training loop's counters: where a run is, saved in every checkpoint so ``--resume`` continues it.

The number of gradient updates is not here: it belongs to the learner (``learner.updates``), which
checkpoints it with its weights.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any


@dataclass
class Counters:
    """Progress of one run; :meth:`to_checkpoint` is the ``"counters"`` entry of ``latest.pt``/``best.pt``."""

    env_steps: int = 0                 #: environment steps collected (B per lock-step step)
    batches: int = 0                   #: batches of B meta-episodes collected (seeds the next batch's tasks)
    wall_s: float = 0.0                #: training wall-clock seconds, summed over resumed sessions
    next_eval: int = 0                 #: evaluate once ``env_steps`` reaches this
    best_return: float = -math.inf     #: best evaluation return so far (``best.pt`` holds that learner)

    @classmethod
    def keys(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    def to_checkpoint(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_checkpoint(cls, saved: Any) -> "Counters | None":
        """The counters of a checkpoint's ``"counters"`` entry; None if it is not a dict with every key."""
        if not isinstance(saved, dict) or not cls.keys() <= set(saved):
            return None
        return cls(**{k: saved[k] for k in cls.keys()})
