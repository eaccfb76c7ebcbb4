"""Typed configuration of the Dreamer/MAMBA agents and the named presets that stack on it.

A config is built as ``DreamerConfig()`` → algorithm preset (``dreamer-vanilla``,
``dreamer-tune``, ``mamba``) → the environment's settings (from the authors' released
configuration) → optional extra presets (``quick``, ``cpu``) → explicit overrides. Every
preset below names its source. ``resolve_config("mamba", "Rooms-3", ["quick"], {"seed": 1})``
does it all.

Step counting: the authors' released code counts every environment step twice (action
repeat bookkeeping); everywhere in mamba-edu ``steps`` counts each real environment step once,
so their "2M steps" are our 1M.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mamba_edu.agents.presets import apply_fields
from mamba_edu.agents.run_config import RunConfig, bounded
from mamba_edu.quick import with_quick


@dataclass
class DreamerConfig(RunConfig):
    """Every knob of the Dreamer/MAMBA agent and its training loop (the run-level fields, ``steps``,
    ``seed``, ``num_envs``, ``reward_in_obs``, ..., are :class:`~mamba_edu.agents.run_config.RunConfig`'s)."""

    # --- world model sizes (DreamerV3 / paper Table 2) ---
    deter: int = bounded(512, lo=1)
    """GRU deterministic state size."""
    hidden: int = bounded(512, lo=1)
    """``dyn_hidden``: MLP width inside the RSSM (before the GRU and the prior/posterior heads)."""
    stoch: int = bounded(32, lo=1)
    """``dyn_stoch``: number of categorical latent variables."""
    classes: int = bounded(32, lo=1)
    """``dyn_discrete``: classes per latent variable."""
    units: int = bounded(512, lo=1)
    """Width of the reward/continue heads, actor and critic MLPs."""
    layers: int = bounded(2, lo=0, note="0: linear heads")
    """Hidden layers of the reward/continue heads, actor and critic MLPs."""
    enc_units: int = bounded(0, lo=0, note="0: as the heads")
    """Width of the encoder and vector-decoder MLPs; 0: the heads' ``units`` (the authors' ``mlp_units``
    is 512: ``paper`` sets it)."""
    enc_layers: int = bounded(0, lo=0, note="0: as the heads")
    """Hidden layers of the encoder and vector-decoder MLPs; 0: the heads' ``layers`` (the authors'
    ``mlp_layers``: 4 on PointRobot, PointRobotWind, EscapeRoom and Rooms; ``paper`` sets it)."""
    norm_eps: float = bounded(1e-5, gt=0)
    """Epsilon of every LayerNorm (PyTorch's default; the authors' networks use 1e-3: ``paper``)."""
    weight_init: str = bounded("torch", choices=("dreamerv3", "torch"))
    """'torch' (PyTorch's defaults, zero reward and critic outputs) or 'dreamerv3' (the authors':
    truncated-normal fan-avg weights, uniform output layers, zero reward and critic outputs; ``paper``)."""
    cnn_depth: int = bounded(32, lo=1)
    """Channels of the first CNN layer (image observations)."""
    unimix: float = bounded(0.01, lo=0, hi=1)
    """Uniform mixture in the latent and action categoricals (DreamerV3: 1 %)."""
    initial_latent_grad: str = bounded("probs", choices=("probs", "logits"))
    """Path of the straight-through gradient of the learned initial latent z_0 (the prior's mode at
    h_0): through the prior's probabilities like every other latent ("probs"), or through its unimixed
    logits ("logits": the authors' code, whose ``OneHotDist.mode`` adds ``logits - sg(logits)``; ``paper``)."""
    bins: int = bounded(255, lo=1)
    """Two-hot bins of the reward head and critic."""
    # --- world model loss ---
    kl_dyn: float = bounded(0.5, lo=0)
    """Weight of the dynamics KL, KL(sg(posterior) ‖ prior)."""
    kl_rep: float = bounded(0.1, lo=0)
    """Weight of the representation KL, KL(posterior ‖ sg(prior))."""
    free_nats: float = bounded(1.0, lo=0)
    """Free bits: each KL term is clipped below at this many nats."""
    kl_all_steps: bool = False
    """Full context: True puts the KL terms on every unrolled step of the prefix and the prediction
    losses on the ``seq_len`` sampled indices (the authors' code; ``paper``); False: all terms at the
    sampled indices."""
    recon_window: int = bounded(0, lo=0, hi=9, note="0: off; odd")
    """The authors' extra multi-step heads (their ``reconstruction_window``, default 3; not in the paper):
    decoder, reward and continue heads on [feature, embedding of each of the W steps around a sampled
    step] that predict the step after that embedding (:mod:`mamba_edu.agents.dreamer.multi_step_heads`).
    0: off (the paper's model)."""
    model_lr: float = bounded(1e-4, gt=0)
    """Adam learning rate of the world model."""
    model_grad_clip: float = bounded(1000.0, gt=0)
    """Gradient-norm clip of the world model."""
    # --- actor-critic ---
    imag_horizon: int = bounded(15, lo=1)
    """Imagined steps from each start state (paper Sec. 2.2's N_IMG). The authors' ``imag_horizon: H``
    counts the start state, so it imagines H − 1 steps: their H = 2 is our 1."""
    gamma: float = bounded(0.997, lo=0, hi=1)
    """Discount γ."""
    lam: float = bounded(0.95, lo=0, hi=1)
    """λ of the λ-returns."""
    entropy: float = bounded(3e-4, lo=0)
    """Entropy regulariser of the actor."""
    actor_lr: float = bounded(3e-5, gt=0)
    """Adam learning rate of the actor."""
    critic_lr: float = bounded(3e-5, gt=0)
    """Adam learning rate of the critic."""
    std_head_detached: bool = False
    """Continuous actions: the policy's std reads the actor's hidden features through a stop-gradient,
    so the entropy bonus trains only the std's output weights and cannot drift the mean through the
    shared layers (mamba-edu's change, see docs/notes/pointrobot_entropy_drift.md; DreamerV3 and the paper
    share the layers: False)."""
    ac_grad_clip: float = bounded(100.0, gt=0)
    """Gradient-norm clip of actor and critic."""
    slow_critic_fraction: float = bounded(0.02, lo=0, hi=1)
    """EMA fraction of the slow critic per update."""
    slow_critic_reg: float = bounded(1.0, lo=0)
    """Weight of the critic's regulariser towards the slow critic's prediction."""
    retnorm_decay: float = bounded(0.99, lo=0, hi=1)
    """EMA decay of the 5th–95th return percentile range used to normalise advantages."""
    imag_weights_discounted: bool = False
    """Weights of the imagined terms in the actor and critic losses. False: the product of the predicted
    continue flags up to and including the state (no γ). True: the authors' code (``models.py`` in
    ``_compute_target``): the product of γ·ĉ over the states before it, ĉ read at each state left, the start
    state's included (``paper``). Identical with one imagined step."""
    baseline_grad: bool = False
    """Dynamics gradients only: False, the baseline v(s_t) in the advantage is a stop-gradient (ours: a
    differentiable −v(s_t) pushes the actor towards states its critic values low); True, the authors' code,
    which does not detach it (``paper``). Identical with one imagined step (the start state has no gradient)."""
    retnorm_from_zero: bool = False
    """True: the percentile EMAs start at 0 (the authors' code; ``paper``); False: at the first
    batch's percentiles."""
    actor_grad: str = bounded("auto", choices=("auto", "reinforce", "dynamics"))
    """'reinforce', 'dynamics' (backprop through the model), or 'auto' (reinforce for discrete
    actions, dynamics for continuous, as DreamerV3)."""
    # --- data ---
    batch_size: int = bounded(16, lo=1)
    """Sequences per update."""
    seq_len: int = bounded(64, lo=1)
    """L: Dreamer's window length, and MAMBA's number of sampled loss indices per sequence."""
    train_ratio: float = bounded(16.0, gt=0)
    """DreamerV3's train ratio: replayed steps per real env step, so updates per env step =
    train_ratio / (batch_size·seq_len). Used only while ``updates_per_step`` is 0."""
    updates_per_step: float = bounded(0.0, lo=0, note="0: use train_ratio")
    """Updates per real env step, stated directly (the authors' schedule: their ``train_ratio`` ×
    steps collected / K after each collection, e.g. PointRobot 0.01 · 3000 / 3 = 10 updates per
    3000 steps = 1/300). 0: use ``train_ratio``."""
    update_after_collection: bool = False
    """Run the updates that fell due after each collected batch of ``num_envs`` meta-episodes (the
    authors' loop) rather than interleaved with the env steps as they fall due."""
    replay_capacity: int = bounded(1_000_000, lo=0)
    """Replay capacity in env steps (whole meta-episodes are evicted first-in first-out)."""
    prefill: int = bounded(2500, lo=0)
    """Env steps collected with a random policy before training starts."""
    # --- MAMBA's changes (paper Sec. 3.3), each one flag; (a), the reward and time in the observation,
    # are the run-level ``reward_in_obs`` and ``time_in_obs`` ---
    full_context: bool = False
    """(b) Encode whole meta-episodes from step 0; losses on ``seq_len`` sampled indices."""
    imag_starts: int = bounded(512, lo=1)
    """(b) Posterior states per sequence that imagination starts from (full-context only)."""
    wm_horizon_initial: int = bounded(50, lo=1)
    """(c) Initial world-model prefix length of the horizon schedule."""
    wm_horizon_steps: int = bounded(0, lo=0, note="0: no schedule")
    """(c) N_WM: env steps over which the prefix grows linearly to K·T (0 = no schedule)."""
    # --- cheaper full context: each keeps the information from the meta-episode's start at a fraction
    # of full context's cost (paper Sec. 3.3 (b) backpropagates through the whole prefix; only with
    # full_context) ---
    context: str = bounded("full", choices=("full", "nograd-prefix", "stored-state"))
    """How training sequences get the meta-episode's past (see :mod:`mamba_edu.agents.dreamer.context`):
    'full' (MAMBA: backpropagate through the whole prefix), 'nograd-prefix' (no-autograd pass up to a
    random window of ``seq_len`` steps, gradients inside it), 'stored-state' (R2D2-style burn-in from
    posterior states stored in the replay)."""
    burn_in: int = bounded(16, lo=0)
    """stored-state: no-gradient steps before each window (a multiple of ``state_stride``)."""
    state_stride: int = bounded(16, lo=1)
    """stored-state: a posterior state is stored for every ``state_stride``-th step of a meta-episode."""
    state_refresh_every: int = bounded(16, lo=0, note="0: only at insertion and from training windows")
    """stored-state: every this many updates, recompute the stored states of ``batch_size`` meta-episodes
    (round-robin; 0 = only at insertion and from training windows)."""
    stale_check_every: int = bounded(100, lo=0, note="0: never")
    """stored-state: every this many updates, measure the stored state's gap to a fresh full pass (0 = never)."""
    # --- arithmetic ---
    precision: str = bounded("fp32", choices=("fp32", "bf16", "fp16"))
    """Arithmetic of the update's forward passes: 'fp32', or 'bf16' / 'fp16' autocast (matrix products in
    half precision; weights, optimiser and losses' reductions in float32). bf16 needs a CPU with
    AVX512-BF16/AMX or a GPU to be faster; fp16 is for GPUs (with a gradient scaler, which reads its overflow
    flag on the host once per optimiser step; bf16 needs none). Not the authors' (they train in fp32)."""
    compile: bool = False
    """``torch.compile`` the RSSM's two per-step functions, once per agent: the posterior step of the world
    model's sequential pass and the prior step of imagination (their Gumbel noise and the policy's samples
    stay outside, so a compiled update draws the same random numbers as an eager one). Checkpoints are
    unchanged. Meant for GPUs, where a step's many small kernels dominate; the first update compiles (about
    50 s for the ``quick`` model on a 2-core CPU with an empty inductor cache). Not the authors' (``paper``
    keeps it off)."""

    def check_relations(self) -> None:
        """The cheaper context strategies need full context; the burn-in is whole stored-state strides; the
        multi-step heads' window is odd."""
        if self.context != "full" and not self.full_context:
            raise ValueError(f"config: context={self.context!r} needs full_context=True (use it with --algo mamba)")
        if self.recon_window % 2 == 0 and self.recon_window:
            raise ValueError(f"config: recon_window must be odd (1, 3, 5, 7, 9) or 0 (off), got {self.recon_window}")
        if self.burn_in % self.state_stride:
            raise ValueError(f"config: burn_in must be a multiple of state_stride ({self.state_stride}: 0, "
                             f"{self.state_stride}, {2 * self.state_stride}, ...), got {self.burn_in}")


#: Algorithm presets. Sources: DreamerV3 (Hafner et al., 2023) defaults; paper Table 2 / App. D.
ALGO_PRESETS: dict[str, dict[str, Any]] = {
    "dreamer-vanilla": dict(deter=512, hidden=512, stoch=32, classes=32, units=512, imag_horizon=15),
    "dreamer-tune": dict(deter=512, hidden=64, stoch=16, classes=16, units=128, imag_horizon=10),
    "mamba": dict(deter=512, hidden=64, stoch=16, classes=16, units=128, imag_horizon=10,
                  reward_in_obs=True, time_in_obs=True, full_context=True),
}

#: Per-environment settings. Imagination and N_WM follow the authors' released configuration (their
#: ``imag_horizon`` number, see ``imag_horizon`` for how they count it); ``train_ratio`` is ours
#: (DreamerV3's definition; PointRobot's 16 is 4.7× the authors' update rate). ``paper`` replaces these
#: by the authors' values. ``steps`` are real env steps; ``wm_horizon_steps`` is N_WM.
ENV_PRESETS: dict[str, dict[str, Any]] = {
    "PointRobot": dict(imag_horizon=2, train_ratio=16, steps=1_000_000),
    "PointRobotWind": dict(imag_horizon=10, train_ratio=320, steps=1_000_000),
    "EscapeRoom": dict(imag_horizon=10, train_ratio=192, steps=2_000_000),
    **{f"Rooms-{n}": dict(imag_horizon=2, train_ratio=160, steps=3_000_000, wm_horizon_steps=2_500_000)
       for n in range(1, 9)},
    **{f"Reacher-{n}": dict(imag_horizon=10, train_ratio=144, steps=10_000_000, wm_horizon_steps=2_500_000,
                            actor_lr=2e-4, critic_lr=2e-4) for n in range(1, 5)},
    "ReacherPixels": dict(imag_horizon=10, train_ratio=288, steps=10_000_000, wm_horizon_steps=2_500_000,
                          actor_lr=2e-4, critic_lr=2e-4),
    "HumanoidDir": dict(imag_horizon=10, train_ratio=96, steps=15_000_000, wm_horizon_steps=7_500_000,
                        actor_lr=6e-5, critic_lr=6e-5),
    "PandaReacher": dict(imag_horizon=10, train_ratio=48, steps=10_000_000, wm_horizon_steps=2_500_000,
                         actor_lr=6e-5, critic_lr=6e-5),
}

#: The authors' schedule and protocol (GitHub zoharri/mamba; ``docs/mamba.md`` has the parity table with
#: file and line of every value): what ``--preset paper`` sets on top of the algorithm and env settings.
#: Common part: 10 parallel envs, updates after each collection, KL on every unrolled step, evaluation
#: with the policy's mode, our deliberate differences off.
PAPER_COMMON: dict[str, Any] = dict(num_envs=10, update_after_collection=True, kl_all_steps=True,
                                    eval_greedy=True, std_head_detached=False, final_tasks=1000,
                                    weight_init="dreamerv3", norm_eps=1e-3, retnorm_from_zero=True,
                                    initial_latent_grad="logits", imag_weights_discounted=True,
                                    baseline_grad=True)


def _paper_env(K: int, T: int, their_train_ratio: float, their_imag_horizon: int, eval_tasks: int = 20
               ) -> dict[str, Any]:
    """The authors' per-env values in our units. Updates: their ``update_models(int(train_ratio ·
    steps_taken / num_meta_episodes))`` per collection → train_ratio / K per real step. Imagination:
    their horizon counts the start state. Encoder/decoder MLPs 4 × 512 (their ``mlp_layers: 4`` on
    these envs). Evaluation every 200 collected meta-episodes on ``eval_tasks`` fixed tasks. Prefill: their 25 random meta-episodes leave one in the replay (their
    ``simulate`` prunes the dataset), so ours is one batch of 10 random meta-episodes."""
    return dict(updates_per_step=their_train_ratio / K, imag_horizon=their_imag_horizon - 1,
                eval_every=200 * K * T, eval_tasks=eval_tasks, prefill=10 * K * T, enc_units=512, enc_layers=4)


PAPER_ENV: dict[str, dict[str, Any]] = {
    "PointRobot": _paper_env(3, 100, 0.01, 2),
    "PointRobotWind": _paper_env(3, 100, 0.2, 10),
    "EscapeRoom": _paper_env(2, 60, 0.2, 10),
}

#: Extra presets that stack on top.
EXTRA_PRESETS: dict[str, dict[str, Any]] = {
    # CI and demos: tiny budgets and models. Same code paths.
    "quick": dict(steps=3_000, prefill=600, eval_every=1_500, eval_tasks=8, final_tasks=16, deter=64, hidden=32,
                  stoch=8, classes=8, units=64, enc_units=0, enc_layers=0, imag_starts=32, batch_size=8, seq_len=32,
                  train_ratio=64, updates_per_step=0.0),
    # A student's laptop: the paper's algorithm at sizes a 2-core CPU trains in tens of minutes.
    "cpu": dict(deter=128, hidden=64, stoch=16, classes=16, units=128, enc_units=0, enc_layers=0,
                imag_starts=64, batch_size=16, seq_len=64),
    # Turn off MAMBA's schedule (paper App. G, Table 4 ablation).
    "no-schedule": dict(wm_horizon_steps=0),
    # Paper App. G ablation: no reward in the observation.
    "no-reward-obs": dict(reward_in_obs=False),
    # Cheaper full context, mamba-edu's (paper Sec. 3.3 (b) backpropagates through the whole prefix): each
    # keeps the information from the meta-episode's start (see the ``context`` field).
    "nograd-prefix": dict(context="nograd-prefix"),
    "stored-state": dict(context="stored-state"),
    # Ours, not the paper's (the authors imagine 1 step on PointRobot and Rooms: their horizon 2 counts the
    # start state, see ``imag_horizon``): imagine 8 steps from 16 start states per sequence — as many imagined
    # states as `cpu`'s 2 × 64, at the same update cost — so the critic's targets reach 8 steps ahead.
    # PointRobot, 2 seeds: ~2× the return of horizon 2 at equal env steps; Rooms-1: no difference
    # (docs/notes/imagination_horizon.md). Stack it after `cpu`; MAMBA only (a Dreamer window imagines from all its states).
    "long-imagination": dict(imag_horizon=8, imag_starts=16),
    # The authors' schedule and evaluation protocol; the env's part comes from PAPER_ENV.
    "paper": PAPER_COMMON,
}

PRESETS = {**ALGO_PRESETS, **EXTRA_PRESETS}


def resolve_config(algo: str, env: str, presets: list[str] | None = None,
                   overrides: dict[str, Any] | None = None) -> DreamerConfig:
    """Stack algorithm preset → env settings → extra presets → overrides (→ quick mode).

    ``MAMBA_EDU_QUICK=1`` appends the ``quick`` preset (small budgets, same code).
    """
    from mamba_edu.envs import short_name

    if algo not in ALGO_PRESETS:
        raise ValueError(f"unknown algorithm {algo!r} for the Dreamer agent; valid: {', '.join(ALGO_PRESETS)}")
    name = short_name(env)
    cfg = apply_fields(DreamerConfig(), ALGO_PRESETS[algo], f"preset {algo}")
    env_values = dict(ENV_PRESETS.get(name, {}))
    if not cfg.full_context:
        env_values.pop("wm_horizon_steps", None)
    cfg = apply_fields(cfg, env_values, f"env settings for {name}")
    for p in with_quick(presets):
        if p not in EXTRA_PRESETS:
            raise ValueError(f"unknown preset {p!r} for {algo}; valid: {', '.join(EXTRA_PRESETS)}")
        values = EXTRA_PRESETS[p]
        if p == "paper":
            if name not in PAPER_ENV:
                raise ValueError(f"preset paper: the authors' schedule is not transcribed for {name} yet; "
                                 f"valid envs: {', '.join(PAPER_ENV)}")
            values = {**values, **PAPER_ENV[name]}
        if p == "quick" and cfg.wm_horizon_steps:
            values = {**values, "wm_horizon_steps": values["steps"] // 2}
        cfg = apply_fields(cfg, values, f"preset {p}")
    cfg = apply_fields(cfg, dict(overrides or {}), "override")
    return cfg.validate()


def config_to_dict(cfg: DreamerConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


#: Fields whose default changed since runs were first saved, with the value such a run had.
_SAVED_DEFAULTS: dict[str, Any] = {"eval_greedy": False}


def config_from_dict(d: dict[str, Any]) -> DreamerConfig:
    """A saved config (``config.json``) as a :class:`DreamerConfig`; configs saved before a field existed
    get the value their run had (fields added later default to the earlier behaviour)."""
    return apply_fields(DreamerConfig(), {**_SAVED_DEFAULTS, **d}, "saved config").validate()


__all__ = ["DreamerConfig", "ALGO_PRESETS", "ENV_PRESETS", "EXTRA_PRESETS", "PAPER_COMMON", "PAPER_ENV", "PRESETS",
           "resolve_config",
           "config_to_dict", "config_from_dict", "field"]
