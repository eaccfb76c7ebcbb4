"""Why a sweep could not run. Problems with the spec itself are :class:`~mamba_edu.sweep.spec.SweepSpecError`."""
from __future__ import annotations


class SweepError(RuntimeError):
    """A sweep could not run (no Ray, a busy sweep directory, impossible resources, interruption)."""


class MissingRayError(SweepError):
    pass


class SweepInterrupted(SweepError):
    pass
