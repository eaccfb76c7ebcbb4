"""One update's metrics, kept on the device until they are read.

Turning a GPU tensor into a Python float waits for the GPU to finish everything queued before it (a
host synchronisation). :meth:`DreamerAgent.train_step <mamba_edu.agents.dreamer.agent.DreamerAgent.train_step>`
returns its ~20 metrics as an :class:`UpdateMetrics`: a read-only mapping of name → float that holds the
tensors as computed and copies all of them to the host in one transfer the first time any value is read.
Updates whose metrics nobody reads (the training loop logs only the last update of each batch) never
synchronise for them.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch


class UpdateMetrics(Mapping):
    """name → float, from values that are floats or one-element tensors (converted together, lazily)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = dict(values)
        self._floats: dict[str, float] | None = None

    def tensors(self) -> dict[str, Any]:
        """The values as computed (tensors stay on their device; no synchronisation)."""
        return dict(self._values)

    def _host(self) -> dict[str, float]:
        if self._floats is None:
            floats = {k: float(v) for k, v in self._values.items() if not torch.is_tensor(v)}
            by_device: dict[torch.device, list[str]] = {}
            for k, v in self._values.items():
                if torch.is_tensor(v):
                    by_device.setdefault(v.device, []).append(k)
            for keys in by_device.values():     # one device → host copy per device (in practice one)
                stacked = torch.stack([self._values[k].detach().reshape(()).float() for k in keys])
                floats.update(zip(keys, stacked.tolist()))
            self._floats = {k: floats[k] for k in self._values}
        return self._floats

    def __getitem__(self, key: str) -> float:
        if key not in self._values:
            raise KeyError(key)
        return self._host()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"UpdateMetrics({self._host()!r})"
