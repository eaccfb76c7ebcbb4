"""Experiment sweeps on Ray: algorithms × envs × seeds × variants, each trial an ordinary run directory.

``python -m mamba_edu sweep SPEC.yaml [--address ADDR] [--out DIR] [--max-concurrent N] [--dry-run]``
runs :func:`run_sweep`. Ray is the optional extra ``[sweep]``; everything but the execution (spec
parsing, validation, the plan) works without it. See docs/sweeps.md.

* :mod:`mamba_edu.sweep.spec` — the YAML spec, its validation and the trials it expands to;
* :mod:`mamba_edu.sweep.state` — each trial's state: what its run directory says, its status in a launch;
* :mod:`mamba_edu.sweep.runner` — Ray execution, retries from checkpoints, re-launch, the table;
* :mod:`mamba_edu.sweep.errors` — why a sweep could not run;
* :mod:`mamba_edu.sweep.worker` — one attempt at one trial, inside a Ray worker;
* :mod:`mamba_edu.sweep.progress` — the terminal summary and the TensorBoard scalars;
* :mod:`mamba_edu.sweep.estimate` — wall-clock estimate of a spec from measured throughput.
"""
from mamba_edu.sweep.runner import (
    FAULT_ENV,
    MissingRayError,
    SweepError,
    SweepInterrupted,
    SweepResult,
    describe_plan,
    import_ray,
    run_sweep,
)
from mamba_edu.sweep.spec import SweepSpec, SweepSpecError, Trial, load_spec, parse_spec
from mamba_edu.sweep.state import TrialState, TrialStatus

__all__ = ["FAULT_ENV", "MissingRayError", "SweepError", "SweepInterrupted", "SweepResult", "SweepSpec",
           "SweepSpecError", "Trial", "TrialState", "TrialStatus", "describe_plan", "import_ray", "load_spec",
           "parse_spec", "run_sweep"]
