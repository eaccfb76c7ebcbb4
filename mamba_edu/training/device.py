"""Which torch device a run uses (``device`` in every config)."""
from __future__ import annotations

import torch


def pick_device(name: str = "auto", accelerators: bool = True) -> torch.device:
    """The device named by a config's ``device``: 'cpu', 'cuda', 'mps', or 'auto' = CUDA, else MPS, else
    CPU. ``accelerators=False``: 'auto' means the CPU (the PPO baselines' tiny networks act one step
    at a time, so they run on the CPU)."""
    if name == "auto":
        if not accelerators:
            return torch.device("cpu")
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available; valid here: auto, cpu")
    return torch.device(name)
