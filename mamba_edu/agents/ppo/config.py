"""Typed configuration of the PPO-based context baselines and the named presets that stack on it.

A config is built as ``PPOConfig()`` → algorithm preset (``varibad``, ``varibad-local``,
``hyperx``, ``rl2``) → the environment family's settings (the authors' published configurations,
below) → optional extra presets (``quick``) → explicit overrides. ``MAMBA_EDU_QUICK=1`` appends
``quick``. ``resolve_config("varibad-local", "Rooms-3", ["quick"], {"seed": 1})`` does it all.

Sources of the numbers (the authors' released argument files):

* VariBAD, grid worlds — ``lmzintgraf/varibad: config/gridworld/args_grid_varibad.py``;
* VariBAD, point robot — ``lmzintgraf/varibad: config/pointrobot/args_pointrobot_varibad.py``;
* RL² — ``lmzintgraf/varibad: config/{gridworld,pointrobot}/args_*_rl2.py`` (there RL² is the
  VariBAD code with the decoder off and the RL loss through the encoder; here it is a recurrent
  actor-critic with the same sizes);
* HyperX bonuses — ``lmzintgraf/hyperx: config/rooms/args_room_hyperx.py`` (grid worlds) and
  ``config/pointrobot/args_pointrobot_sparse_hyperx.py`` (continuous).

Step counting: one real environment step counts once (16 envs × H steps per PPO iteration).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mamba_edu.agents.config_fields import check_types
from mamba_edu.agents.presets import apply_fields, with_quick


@dataclass
class PPOConfig:
    """Every knob of PPO, VariBAD (global/local), HyperX and RL², and of their training runs."""

    method: str = "varibad"
    """'varibad' (belief encoder + decoder + PPO policy on state and belief; HyperX adds bonuses) or
    'rl2' (a GRU policy over observation, previous action and previous reward)."""
    # --- PPO (paper Sec. 3.1: VariBAD trains its policy with PPO, Schulman et al., 2017) ---
    num_envs: int = 16
    """Meta-episodes collected in parallel per PPO iteration (the original ``num_processes``)."""
    lr: float = 7e-4
    """Adam learning rate of the policy (``lr_policy``)."""
    adam_eps: float = 1e-8
    """Adam epsilon of the policy optimiser (``policy_eps``)."""
    epochs: int = 2
    """PPO epochs over each batch (``ppo_num_epochs``)."""
    minibatches: int = 4
    """Minibatches per epoch (``ppo_num_minibatch``); for RL² they split the environments."""
    clip: float = 0.05
    """PPO ratio clip ε, also the value-clip range (the original reuses it for both)."""
    value_clip: bool = True
    """Clip the value prediction to ±``clip`` around the rollout's prediction (``ppo_use_clipped_value_loss``)."""
    huber: bool = True
    """Huber (smooth-L1) instead of squared value loss (``ppo_use_huberloss``)."""
    value_coef: float = 0.5
    """Weight of the value loss."""
    entropy: float = 0.01
    """Entropy bonus coefficient (``policy_entropy_coef``)."""
    gamma: float = 0.95
    """Discount γ."""
    lam: float = 0.95
    """GAE λ (``policy_tau``)."""
    max_grad_norm: float = 0.5
    """Gradient-norm clip of the policy update."""
    norm_advantages: bool = True
    """Normalise advantages over the batch."""
    norm_rewards: bool = True
    """Divide rewards by the running std of the discounted return (baselines' VecNormalize)."""
    reward_clip: float = 10.0
    """Clip of the normalised rewards (``norm_rew_clip_param``; 0 = no clip)."""
    norm_policy_inputs: bool = True
    """Normalise the policy's state and belief inputs with running mean/std (VariBAD)."""
    policy_layers: tuple[int, ...] = (32,)
    """Hidden layers of the actor and of the critic (separate networks, tanh)."""
    policy_state_embed: int = 16
    """VariBAD policy: the state goes through Linear+tanh of this width first (0 = raw)."""
    policy_latent_embed: int = 16
    """VariBAD policy: the belief (mean, log-variance) goes through Linear+tanh of this width first (0 = raw)."""
    policy_init_std: float = 1.0
    """Initial std of the Gaussian policy (continuous actions)."""
    # --- belief encoder (VariBAD's VAE encoder; RL²'s recurrent core uses the same sizes) ---
    latent_dim: int = 5
    """VariBAD: size of the Gaussian belief (mean and log-variance each). RL²: width of the ReLU
    layer after the GRU."""
    gru_hidden: int = 64
    """GRU hidden size."""
    action_embed: int = 0
    """Embedding (Linear+ReLU) width of the action input (0 = the action is not an input)."""
    state_embed: int = 8
    """Embedding width of the state input (also used by the state-conditioned decoders)."""
    reward_embed: int = 8
    """Embedding width of the reward input."""
    # --- decoder and ELBO (VariBAD, Zintgraf et al., 2019; paper Sec. 3.1–3.2) ---
    reward_decoder: str = "bernoulli-cells"
    """'bernoulli-cells' (one logit per grid cell, p(r = 1 | cell, z); Rooms), 'deterministic'
    (MSE on r from (z, s')), 'bernoulli' (p(r = 1 | z, s'))."""
    reward_decoder_layers: tuple[int, ...] = (32, 32)
    """Hidden layers of the reward decoder (ReLU)."""
    decoder_input_action: bool = False
    """Feed the action to the state-conditioned reward decoder (needed on the MetaBandit)."""
    decode_state: bool = False
    """Also decode s_{t+1} from (z, s_t, a_t) (optional state decoder, MSE)."""
    state_decoder_layers: tuple[int, ...] = (32, 32)
    """Hidden layers of the state decoder."""
    reward_loss_coef: float = 1.0
    """Weight of the reward reconstruction term."""
    state_loss_coef: float = 1.0
    """Weight of the state reconstruction term."""
    kl_weight: float = 0.01
    """Weight of KL(q(z|τ_{:t}) ‖ q(z|τ_{:t−1})) (the first belief against N(0, I))."""
    kl_batch_reduction: str = "sum"
    """How the KL is reduced over the trajectories of a VAE batch: 'sum' (the original code, so the
    KL weighs batch-size times more than the per-trajectory-averaged reconstruction) or 'mean'."""
    reconstruction: str = "global"
    """'global' (VariBAD: every belief b_t decodes the whole meta-episode) or 'local' (paper
    Sec. 3.2 / App. E: b_t decodes only ``local_window`` transitions around t)."""
    local_window: int = 10
    """Transitions decoded by each belief under local reconstruction."""
    subsample_elbos: int = 0
    """Belief indices t per trajectory whose ELBO_t enters a VAE update (0 = all H+1)."""
    subsample_decodes: int = 0
    """Transitions decoded per ELBO term (0 = all in its window / the whole meta-episode)."""
    vae_lr: float = 1e-3
    """Adam learning rate of encoder and decoders."""
    vae_updates: int = 3
    """VAE gradient steps per PPO iteration (``num_vae_updates``)."""
    vae_batch_size: int = 25
    """Meta-episodes per VAE update (``vae_batch_num_trajs``)."""
    vae_buffer_size: int = 10_000
    """Meta-episodes kept for VAE training (first-in first-out)."""
    precollect: int = 5_000
    """Env steps collected before the first update (fills the VAE buffer; ``precollect_len``)."""
    # --- HyperX exploration bonuses (Zintgraf et al., 2021) ---
    bonus_hyperstate: float = 0.0
    """Weight of the RND novelty bonus on the hyper-state (s_{t+1}, b_{t+1}) (0 = off)."""
    bonus_vae_error: float = 0.0
    """Weight of the bonus = reward reconstruction error of r_t from b_{t+1} (0 = off)."""
    bonus_anneal: bool = True
    """Multiply the bonuses by 1 − env_steps/steps (linear annealing to zero)."""
    bonus_clip: float = 10.0
    """Clip of each normalised bonus (0 = no clip)."""
    rnd_lr: float = 1e-4
    """Adam learning rate of the RND predictor."""
    rnd_batch_size: int = 128
    """Hyper-states per RND update (√n time indices from each of √n stored meta-episodes)."""
    rnd_output: int = 128
    """Output width of the RND prior and predictor networks."""
    rnd_layers: tuple[int, ...] = (256, 256)
    """Hidden layers of the RND prior and predictor networks."""
    rnd_weight_scale: float = 10.0
    """Factor on the (fixed, random) prior network's initial weights."""
    # --- MAMBA's observation features (the baselines need the previous reward in the observation) ---
    reward_in_obs: bool = True
    """The previous reward is read from the observation (must stay True: the policy acts from
    observations only, also in evaluation); it is not shown to VariBAD's policy."""
    time_in_obs: bool = False
    """Append t/(K·T) to the observation and show it to the policy (not in the original baselines)."""
    # --- run ---
    steps: int = 10_000_000
    """Real env steps to train for."""
    eval_every: int = 100_000
    """Env steps between evaluations."""
    eval_tasks: int = 100
    """Held-out tasks per evaluation (the final test uses ``final_tasks``)."""
    final_tasks: int = 1000
    """Held-out tasks of the final test written to final.json."""
    eval_greedy: bool = False
    """Act with the mode of the policy in evaluation. Default: sample, like every other algorithm of this
    package (one evaluation protocol); the original code evaluates with the mode (``eval_greedy=true``),
    which hides the progress of a still-stochastic grid-world policy."""
    checkpoint_every_s: float = 300.0
    """Seconds between checkpoints (always also at evaluations and the end)."""
    seed: int = 0
    """Seed of torch, numpy, the envs, minibatches and the VAE buffer sampler."""
    device: str = "cpu"
    """'cpu' or 'auto' (= CPU): the networks are tiny and act one step at a time, so this version
    runs the baselines on CPU only."""
    threads: int = 0
    """torch CPU threads; 0 = auto: one thread for models under 2M parameters, every core above
    (:mod:`mamba_edu.training.threads` says why)."""

    def validate(self) -> "PPOConfig":
        """Check every field (its type from the annotation, then its range); ``ValueError`` naming the
        first field that is wrong and what it must be."""
        check_types(self)       # also: a single width becomes a tuple, a list of widths a tuple
        for name in ["policy_layers", "reward_decoder_layers", "state_decoder_layers", "rnd_layers"]:
            value = getattr(self, name)
            if any(v < 1 for v in value) or (name == "policy_layers" and not value):
                raise ValueError(f"config: {name} must be a non-empty list of widths >= 1, got {value}")
        if self.method not in ("varibad", "rl2"):
            raise ValueError(f"config: method must be one of varibad, rl2; got {self.method!r}")
        for name in ["num_envs", "epochs", "minibatches", "latent_dim", "gru_hidden", "vae_batch_size",
                     "vae_buffer_size", "local_window", "eval_tasks", "final_tasks", "rnd_batch_size", "rnd_output"]:
            if getattr(self, name) < 1:
                raise ValueError(f"config: {name} must be >= 1, got {getattr(self, name)}")
        for name in ["gamma", "lam"]:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"config: {name} must lie in [0, 1], got {getattr(self, name)}")
        for name in ["lr", "vae_lr", "rnd_lr", "adam_eps", "clip", "max_grad_norm", "policy_init_std"]:
            if not getattr(self, name) > 0:
                raise ValueError(f"config: {name} must be > 0, got {getattr(self, name)}")
        for name in ["steps", "eval_every", "precollect", "vae_updates", "subsample_elbos", "subsample_decodes",
                     "action_embed", "state_embed", "reward_embed", "policy_state_embed", "policy_latent_embed",
                     "entropy", "value_coef", "kl_weight", "reward_loss_coef", "state_loss_coef", "reward_clip",
                     "bonus_hyperstate", "bonus_vae_error", "bonus_clip", "threads", "seed"]:
            if getattr(self, name) < 0:
                raise ValueError(f"config: {name} must be >= 0, got {getattr(self, name)}")
        if self.state_embed + self.action_embed + self.reward_embed < 1:
            raise ValueError("config: the encoder needs at least one input "
                             "(state_embed, action_embed, reward_embed are all 0)")
        if self.reward_decoder not in ("bernoulli-cells", "deterministic", "bernoulli"):
            raise ValueError(f"config: reward_decoder must be one of bernoulli-cells, deterministic, bernoulli; "
                             f"got {self.reward_decoder!r}")
        if self.reconstruction not in ("global", "local"):
            raise ValueError(f"config: reconstruction must be 'global' or 'local', got {self.reconstruction!r}")
        if self.kl_batch_reduction not in ("sum", "mean"):
            raise ValueError(f"config: kl_batch_reduction must be 'sum' or 'mean', got {self.kl_batch_reduction!r}")
        if not self.reward_in_obs:
            raise ValueError("config: reward_in_obs must stay True for varibad/hyperx/rl2 — the agent reads the "
                             "previous reward from the observation (also during evaluation)")
        if self.device not in ("auto", "cpu"):
            raise ValueError(f"config: device must be 'cpu' or 'auto' for the PPO baselines (CPU only); "
                             f"got {self.device!r}")
        return self


#: Algorithm presets (the switch between the four baselines).
ALGO_PRESETS: dict[str, dict[str, Any]] = {
    "varibad": dict(method="varibad", reconstruction="global"),
    "varibad-local": dict(method="varibad", reconstruction="local", local_window=10),
    "hyperx": dict(method="varibad", reconstruction="global"),   # + the family's HyperX bonus settings
    "rl2": dict(method="rl2"),
}

#: Family settings from the authors' configurations (see the module docstring for the files).
FAMILY_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # grid worlds: args_grid_varibad.py / args_grid_rl2.py
    "grid": {
        "varibad": dict(gru_hidden=64, latent_dim=5, action_embed=0, state_embed=8, reward_embed=8,
                        reward_decoder="bernoulli-cells", reward_decoder_layers=(32, 32), kl_weight=0.01,
                        vae_lr=1e-3, vae_updates=3, vae_batch_size=25, precollect=5000,
                        policy_layers=(32,), policy_state_embed=16, policy_latent_embed=16, lr=7e-4,
                        epochs=2, minibatches=4, clip=0.05, entropy=0.01, gamma=0.95, lam=0.95),
        "hyperx": dict(bonus_hyperstate=10.0, bonus_vae_error=1.0, bonus_clip=10.0),
        "rl2": dict(gru_hidden=64, latent_dim=32, action_embed=0, state_embed=8, reward_embed=8,
                    policy_layers=(32,), lr=7e-4, epochs=2, minibatches=4, clip=0.05, entropy=0.01,
                    gamma=0.95, lam=0.95, precollect=0),
    },
    # point robot (and the other continuous families): args_pointrobot_varibad.py / _rl2.py; the VAE
    # batch (10 meta-episodes, 50 ELBO terms × 50 decodes) and the unclipped reward normalisation are the
    # hyperx repository's VariBAD and HyperX point-robot settings (args_pointrobot_sparse_*.py), which the
    # MAMBA authors say they built on — without subsampling one global VAE update of 301 beliefs × 300
    # transitions takes seconds on a CPU
    "point": {
        "varibad": dict(gru_hidden=128, latent_dim=5, action_embed=16, state_embed=32, reward_embed=16,
                        reward_decoder="deterministic", reward_decoder_layers=(64, 32), kl_weight=1.0,
                        vae_lr=1e-3, vae_updates=3, vae_batch_size=10, subsample_elbos=50, subsample_decodes=50,
                        precollect=5000, reward_clip=0.0,
                        policy_layers=(128, 128, 128), policy_state_embed=64, policy_latent_embed=64, lr=7e-4,
                        epochs=2, minibatches=8, clip=0.1, entropy=1e-3, gamma=0.99, lam=0.9),
        "hyperx": dict(bonus_hyperstate=0.01, bonus_vae_error=0.1, bonus_clip=0.0),
        "rl2": dict(gru_hidden=128, latent_dim=128, action_embed=16, state_embed=32, reward_embed=16,
                    policy_layers=(128,), lr=7e-4, epochs=2, minibatches=8, clip=0.1, entropy=1e-3,
                    gamma=0.99, lam=0.9, precollect=0),
    },
    # the MetaBandit (a teaching task, not in the papers): grid-world sizes; the reward depends on the
    # action, not on the (constant) state, so the decoder sees the action
    "bandit": {
        "varibad": dict(gru_hidden=64, latent_dim=5, action_embed=8, state_embed=8, reward_embed=8,
                        reward_decoder="deterministic", decoder_input_action=True, reward_decoder_layers=(32, 32),
                        kl_weight=0.01, vae_updates=3, vae_batch_size=25, precollect=640,
                        policy_layers=(32,), policy_state_embed=16, policy_latent_embed=16, lr=7e-4,
                        epochs=2, minibatches=4, clip=0.05, entropy=0.01, gamma=0.95, lam=0.95),
        "hyperx": dict(bonus_hyperstate=10.0, bonus_vae_error=1.0, bonus_clip=10.0),
        "rl2": dict(gru_hidden=64, latent_dim=32, action_embed=8, state_embed=8, reward_embed=8,
                    policy_layers=(32,), lr=7e-4, epochs=2, minibatches=4, clip=0.05, entropy=0.01,
                    gamma=0.95, lam=0.95, precollect=0),
    },
}

#: Which family settings each environment uses, and its training budget (real env steps; the paper's
#: Table 1/5 convergence budgets of VariBAD/HyperX/RL²).
ENV_FAMILY: dict[str, tuple[str, int]] = {
    "PointRobot": ("point", 10_000_000),
    "PointRobotWind": ("point", 10_000_000),
    "EscapeRoom": ("point", 20_000_000),
    **{f"Rooms-{n}": ("grid", 100_000_000) for n in range(1, 9)},
    **{f"Reacher-{n}": ("point", 150_000_000) for n in range(1, 5)},
    "HumanoidDir": ("point", 100_000_000),
    "MetaBandit": ("bandit", 300_000),
}

#: Extra presets that stack on top.
EXTRA_PRESETS: dict[str, dict[str, Any]] = {
    # CI and demos: tiny budgets, same code paths.
    "quick": dict(steps=3_200, eval_every=1_600, eval_tasks=8, final_tasks=16, precollect=320, num_envs=8,
                  vae_batch_size=8, vae_buffer_size=200, rnd_batch_size=16),
    # Fix the original code's KL reduction (see ``kl_batch_reduction``).
    "kl-mean": dict(kl_batch_reduction="mean"),
    # Decode every transition (the varibad repository's point-robot setting; slow on a CPU).
    "no-subsample": dict(subsample_elbos=0, subsample_decodes=0, vae_batch_size=15),
    # The HyperX paper's own 3-room grid ("RoomNavi", lmzintgraf/hyperx: config/rooms/args_room_*.py), the
    # closest published configuration to Rooms-N: bigger encoder, MSE reward decoder on (z, s').
    "roomnavi": dict(gru_hidden=128, latent_dim=10, action_embed=0, state_embed=32, reward_embed=8,
                     reward_decoder="deterministic", reward_decoder_layers=(64, 64), kl_weight=0.1, vae_updates=1,
                     policy_layers=(64,), policy_state_embed=32, policy_latent_embed=32, epochs=8, minibatches=4,
                     clip=0.05, entropy=0.1, gamma=0.98, lam=0.95),
}

PRESETS = {**ALGO_PRESETS, **EXTRA_PRESETS}


def resolve_config(algo: str, env: str, presets: list[str] | None = None,
                   overrides: dict[str, Any] | None = None) -> PPOConfig:
    """Stack algorithm preset → family settings → extra presets → overrides (→ quick mode).

    ``MAMBA_EDU_QUICK=1`` appends the ``quick`` preset (small budgets, same code).
    """
    from mamba_edu.envs import short_name

    if algo not in ALGO_PRESETS:
        raise ValueError(f"unknown algorithm {algo!r} for the PPO baselines; valid: {', '.join(ALGO_PRESETS)}")
    name = short_name(env)
    if name in ("ReacherPixels", "PandaReacher"):
        raise ValueError(f"{algo} does not support image observations ({name}); the paper runs VariBAD/HyperX "
                         "only on state-based tasks (Sec. 4)")
    family, steps = ENV_FAMILY.get(name, ("point", 10_000_000))
    kind = "rl2" if algo == "rl2" else "varibad"
    cfg = apply_fields(PPOConfig(), ALGO_PRESETS[algo], f"preset {algo}")
    cfg = apply_fields(cfg, {**FAMILY_PRESETS[family][kind], "steps": steps}, f"{family} settings for {name}")
    if algo == "hyperx":
        cfg = apply_fields(cfg, FAMILY_PRESETS[family]["hyperx"], f"{family} HyperX settings for {name}")
    for p in with_quick(presets):
        if p not in EXTRA_PRESETS:
            raise ValueError(f"unknown preset {p!r} for {algo}; valid: {', '.join(EXTRA_PRESETS)}")
        cfg = apply_fields(cfg, EXTRA_PRESETS[p], f"preset {p}")
    cfg = apply_fields(cfg, dict(overrides or {}), "override")
    return cfg.validate()


__all__ = ["PPOConfig", "ALGO_PRESETS", "FAMILY_PRESETS", "ENV_FAMILY", "EXTRA_PRESETS", "PRESETS", "resolve_config"]
