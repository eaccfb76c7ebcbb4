"""The run-level settings every algorithm shares, and the bounds every config field declares.

:class:`RunConfig` holds what a training run needs whichever agent it trains: the budget, the
evaluation protocol (paper Sec. 4: returns over held-out tasks, a final test on many), checkpoints,
the seed, the hardware, how many meta-episodes are collected at once and what the observation shows
(paper Sec. 3.3 (a)). :class:`~mamba_edu.agents.dreamer.config.DreamerConfig` and
:class:`~mamba_edu.agents.ppo.config.PPOConfig` inherit it, so ``cfg.steps`` reads the same on
both; a family whose default differs redeclares the field with :func:`override`.

Every field declares its valid values beside its default, and one :meth:`RunConfig.validate` checks
them all by walking :func:`dataclasses.fields` (no list of names to keep in step):

* :func:`bounded` — ``lo`` (``>= lo``), ``hi`` (``<= hi``), ``gt`` (``> gt``), ``choices``; for a tuple
  of widths ``lo`` holds for every width and ``nonempty`` asks for at least one;
* :func:`unbounded` — a number any value of which is valid, with the reason.

Every ``int``, ``float`` and tuple-of-widths field must use one of them and every ``str`` field must
name its choices (``tests/test_run_config.py`` holds both configs to it), so a field cannot be added
unchecked. Constraints between fields (``burn_in`` a multiple of ``state_stride``, ...) are the
config's :meth:`RunConfig.check_relations`. The types come first, from the annotations
(:func:`mamba_edu.agents.config_fields.check_types`).

An error is one line naming the field, the bad value and what is valid, e.g.
``config: gamma must lie in [0, 1], got 2.0``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mamba_edu.agents.config_fields import check_types, field_kinds

R = TypeVar("R", bound="RunConfig")

#: the metadata keys a bound may use (see the module docstring)
BOUND_KEYS = ("lo", "hi", "gt", "choices", "nonempty", "note", "unbounded")


def bounded(default: Any, *, lo: float | None = None, hi: float | None = None, gt: float | None = None,
            choices: tuple[Any, ...] | None = None, nonempty: bool = False, note: str | None = None) -> Any:
    """A dataclass field with ``default`` and its valid values (checked by :meth:`RunConfig.validate`).

    ``lo``/``hi``: inclusive bounds; ``gt``: exclusive lower bound; ``choices``: the valid values;
    ``nonempty``: a tuple of widths needs at least one; ``note``: a few words for the error message
    (what a special value means, why a value is fixed).
    """
    meta: dict[str, Any] = {"lo": lo, "hi": hi, "gt": gt, "choices": tuple(choices) if choices else None,
                            "nonempty": nonempty or None, "note": note}
    meta = {k: v for k, v in meta.items() if v is not None}
    if not set(meta) - {"note"}:
        raise TypeError("bounded(): give lo, hi, gt, choices or nonempty (or use unbounded(default, why))")
    return field(default=default, metadata=meta)


def unbounded(default: Any, why: str) -> Any:
    """A numeric field any finite value of which is valid; ``why`` says so (required, so it is a decision)."""
    if not why:
        raise TypeError("unbounded(): say why every value is valid")
    return field(default=default, metadata={"unbounded": why})


def override(base: type, name: str, default: Any, **changes: Any) -> Any:
    """Field ``name`` of ``base`` with another default (a family's own), keeping its bounds; ``changes``
    replace some of them (e.g. fewer ``choices``)."""
    unknown = set(changes) - set(BOUND_KEYS)
    if unknown:
        raise TypeError(f"override(): unknown bound keys {sorted(unknown)}; valid: {', '.join(BOUND_KEYS)}")
    meta = {**base.__dataclass_fields__[name].metadata, **changes}
    return field(default=default, metadata={k: v for k, v in meta.items() if v is not None})


def describe(meta: Any) -> str:
    """The valid values of a field with bound metadata ``meta``, in words (``>= 1``, ``in [0, 1]``,
    ``one of a, b``, ``any number``)."""
    if "choices" in meta:
        return "one of " + ", ".join(str(c) for c in meta["choices"])
    if "unbounded" in meta:
        return "any number"
    if "lo" in meta and "hi" in meta:
        return f"in [{meta['lo']}, {meta['hi']}]"
    if "gt" in meta:
        return f"> {meta['gt']}"
    if "lo" in meta:
        return f">= {meta['lo']}"
    return "unchecked"


def check_bounds(name: str, kind: str, value: Any, meta: Any) -> None:
    """``ValueError`` (one line: field, value, what is valid) when ``value`` breaks field ``name``'s bounds.

    ``kind`` is the field's type from :func:`~mamba_edu.agents.config_fields.field_kinds`; ``value`` has it.
    """
    note = f" ({meta['note']})" if meta.get("note") else ""
    if "choices" in meta:
        choices = meta["choices"]
        if not any(value == c and type(value) is type(c) for c in choices):
            if len(choices) == 1:
                raise ValueError(f"config: {name} must stay {choices[0]}{note}; got {value!r}")
            raise ValueError(f"config: {name} must be one of {', '.join(str(c) for c in choices)}{note}; "
                             f"got {value!r}")
        return
    lo, hi, gt = meta.get("lo"), meta.get("hi"), meta.get("gt")
    if kind == "ints":
        if (meta.get("nonempty") and not value) or (lo is not None and any(v < lo for v in value)):
            what = "a non-empty list" if meta.get("nonempty") else "a list"
            raise ValueError(f"config: {name} must be {what} of widths >= {lo}{note}, got {value}")
        return
    if lo is not None and hi is not None:
        if not lo <= value <= hi:
            raise ValueError(f"config: {name} must lie in [{lo}, {hi}]{note}, got {value}")
    elif lo is not None:
        if value < lo:
            raise ValueError(f"config: {name} must be >= {lo}{note}, got {value}")
    elif hi is not None:
        if value > hi:
            raise ValueError(f"config: {name} must be <= {hi}{note}, got {value}")
    if gt is not None and not value > gt:
        raise ValueError(f"config: {name} must be > {gt}{note}, got {value}")


def unchecked_fields(cls: type) -> list[str]:
    """Fields of config class ``cls`` that declare no valid values: numbers (and tuples of widths)
    without :func:`bounded` or :func:`unbounded`, strings without ``choices``. Should be empty."""
    missing = []
    for f in dataclasses.fields(cls):
        kind = field_kinds(cls)[f.name]
        if kind == "str" and "choices" not in f.metadata:
            missing.append(f.name)
        elif kind in ("int", "float", "ints") and not set(f.metadata) & {"lo", "hi", "gt", "choices", "nonempty",
                                                                         "unbounded"}:
            missing.append(f.name)
    return missing


@dataclass
class RunConfig:
    """What every training run sets, whichever the algorithm (defaults: the Dreamer/MAMBA agent's;
    :class:`~mamba_edu.agents.ppo.config.PPOConfig` overrides its own)."""

    # --- budget and evaluation protocol (paper Sec. 4: returns over held-out tasks) ---
    steps: int = bounded(1_000_000, lo=0)
    """Real env steps to train for (each counted once)."""
    eval_every: int = bounded(10_000, lo=0)
    """Env steps between evaluations."""
    eval_tasks: int = bounded(100, lo=1)
    """Held-out tasks per evaluation (the final test uses ``final_tasks``)."""
    final_tasks: int = bounded(1000, lo=1)
    """Held-out tasks of the final test written to final.json."""
    eval_greedy: bool = True
    """Act with the mode of the policy during evaluation and the final test (the authors' protocol);
    False: sample actions. Training always samples."""
    checkpoint_every_s: float = bounded(300.0, lo=0)
    """Seconds between checkpoints (always also at evaluations and the end)."""
    # --- reproducibility and hardware ---
    seed: int = bounded(0, lo=0)
    """Seed of torch, numpy, the envs and the samplers."""
    device: str = bounded("auto", choices=("auto", "cpu", "cuda", "mps"))
    """'auto' (CUDA, else MPS, else CPU), 'cpu', 'cuda', 'mps'."""
    threads: int = bounded(0, lo=0)
    """torch CPU threads; 0 = auto: one thread for models under 2M parameters, every core above
    (:mod:`mamba_edu.training.threads` says why)."""
    # --- data collection ---
    num_envs: int = bounded(4, lo=1)
    """Meta-episodes collected in parallel (lock-step batched env)."""
    # --- MAMBA's observation features (paper Sec. 3.3 (a)) ---
    reward_in_obs: bool = False
    """Append the previous reward to the observation."""
    time_in_obs: bool = False
    """Append t/(K·T), the time within the meta-episode, to the observation."""

    def validate(self: R) -> R:
        """Check every field: its type from the annotation, then the bounds declared beside it, then the
        constraints between fields (:meth:`check_relations`); ``ValueError`` naming the first field that
        is wrong, its value and what it must be. Returns ``self`` (whole floats become ints in place)."""
        check_types(self)
        kinds = field_kinds(type(self))
        for f in dataclasses.fields(self):
            check_bounds(f.name, kinds[f.name], getattr(self, f.name), f.metadata)
        self.check_relations()
        return self

    def check_relations(self) -> None:
        """Constraints between fields, after each field is valid on its own (none at run level)."""


__all__ = ["RunConfig", "bounded", "unbounded", "override", "describe", "check_bounds", "unchecked_fields",
           "BOUND_KEYS"]
