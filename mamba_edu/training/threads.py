"""How many CPU threads torch uses for a training run (``threads`` in every config).

Measured on a 2-core CPU (docs/benchmarks.md, "Threads on a shared machine"): a small model gains
nothing from a second thread, and beside one or two other busy processes OpenMP's threads spin at
every barrier, so a 4,000-step MetaBandit run took 10× longer with 2 threads than with 1. The
paper-size world model (3.3M parameters) is matrix-multiply bound and gains ~20 % from a second
thread when the machine is free. So ``threads=0`` ("auto") picks one thread below
:data:`LARGE_MODEL` parameters and torch's default (every core) above it; ``mamba_edu`` also sets
``OMP_WAIT_POLICY=PASSIVE`` (threads sleep instead of spinning) when it is imported before torch.
"""
from __future__ import annotations

import torch

#: models with at least this many parameters use every core under ``threads=0``
LARGE_MODEL = 2_000_000
#: torch's own default (every core), read before any run changes it
DEFAULT_THREADS = torch.get_num_threads()


def agent_modules(learner) -> dict[str, torch.nn.Module]:
    """Every ``torch.nn.Module`` the learner's agent holds, by attribute name (the agent itself if it
    is one: ``{"agent": agent}``)."""
    agent = getattr(learner, "agent", learner)
    if isinstance(agent, torch.nn.Module):
        return {"agent": agent}
    return {k: m for k, m in vars(agent).items() if isinstance(m, torch.nn.Module)}


def count_parameters(learner) -> int:
    """Parameters of every ``torch.nn.Module`` the learner's agent holds (each counted once)."""
    seen = {id(p): p.numel() for m in agent_modules(learner).values() for p in m.parameters()}
    return sum(seen.values())


def auto_threads(n_params: int) -> int:
    """``threads=0``: 1 below :data:`LARGE_MODEL` parameters, else torch's default thread count."""
    return 1 if n_params < LARGE_MODEL else DEFAULT_THREADS


def apply_threads(threads: int, learner) -> int:
    """Set torch's thread count for a run (``threads`` > 0: exactly that; 0: :func:`auto_threads`)."""
    n = threads or auto_threads(count_parameters(learner))
    torch.set_num_threads(n)
    return n
