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

from mamba_edu.agents.presets import apply_fields
from mamba_edu.agents.run_config import RunConfig, bounded, override, unbounded
from mamba_edu.quick import with_quick


@dataclass
class PPOConfig(RunConfig):
    """Every knob of PPO, VariBAD (global/local), HyperX and RL², and of their training runs (the run-level
    fields, ``steps``, ``seed``, ``num_envs``, ``reward_in_obs``, ..., are
    :class:`~mamba_edu.agents.run_config.RunConfig`'s; the ones whose default differs are redeclared below)."""

    method: str = bounded("varibad", choices=("varibad", "rl2"))
    """'varibad' (belief encoder + decoder + PPO policy on state and belief; HyperX adds bonuses) or
    'rl2' (a GRU policy over observation, previous action and previous reward)."""
    # --- PPO (paper Sec. 3.1: VariBAD trains its policy with PPO, Schulman et al., 2017) ---
    lr: float = bounded(7e-4, gt=0)
    """Adam learning rate of the policy (``lr_policy``)."""
    adam_eps: float = bounded(1e-8, gt=0)
    """Adam epsilon of the policy optimiser (``policy_eps``)."""
    epochs: int = bounded(2, lo=1)
    """PPO epochs over each batch (``ppo_num_epochs``)."""
    minibatches: int = bounded(4, lo=1)
    """Minibatches per epoch (``ppo_num_minibatch``); for RL² they split the environments."""
    clip: float = bounded(0.05, gt=0)
    """PPO ratio clip ε, also the value-clip range (the original reuses it for both)."""
    value_clip: bool = True
    """Clip the value prediction to ±``clip`` around the rollout's prediction (``ppo_use_clipped_value_loss``)."""
    huber: bool = True
    """Huber (smooth-L1) instead of squared value loss (``ppo_use_huberloss``)."""
    value_coef: float = bounded(0.5, lo=0)
    """Weight of the value loss."""
    entropy: float = bounded(0.01, lo=0)
    """Entropy bonus coefficient (``policy_entropy_coef``)."""
    gamma: float = bounded(0.95, lo=0, hi=1)
    """Discount γ."""
    lam: float = bounded(0.95, lo=0, hi=1)
    """GAE λ (``policy_tau``)."""
    max_grad_norm: float = bounded(0.5, gt=0)
    """Gradient-norm clip of the policy update."""
    norm_advantages: bool = True
    """Normalise advantages over the batch."""
    norm_rewards: bool = True
    """Divide rewards by the running std of the discounted return (baselines' VecNormalize)."""
    reward_clip: float = bounded(10.0, lo=0, note="0: no clip")
    """Clip of the normalised rewards (``norm_rew_clip_param``; 0 = no clip)."""
    norm_policy_inputs: bool = True
    """Normalise the policy's state and belief inputs with running mean/std (VariBAD)."""
    policy_layers: tuple[int, ...] = bounded((32,), lo=1, nonempty=True)
    """Hidden layers of the actor and of the critic (separate networks, tanh)."""
    policy_state_embed: int = bounded(16, lo=0, note="0: raw")
    """VariBAD policy: the state goes through Linear+tanh of this width first (0 = raw)."""
    policy_latent_embed: int = bounded(16, lo=0, note="0: raw")
    """VariBAD policy: the belief (mean, log-variance) goes through Linear+tanh of this width first (0 = raw)."""
    policy_init_std: float = bounded(1.0, gt=0)
    """Initial std of the Gaussian policy (continuous actions)."""
    # --- belief encoder (VariBAD's VAE encoder; RL²'s recurrent core uses the same sizes) ---
    latent_dim: int = bounded(5, lo=1)
    """VariBAD: size of the Gaussian belief (mean and log-variance each). RL²: width of the ReLU
    layer after the GRU."""
    gru_hidden: int = bounded(64, lo=1)
    """GRU hidden size."""
    action_embed: int = bounded(0, lo=0, note="0: the action is not an input")
    """Embedding (Linear+ReLU) width of the action input (0 = the action is not an input)."""
    state_embed: int = bounded(8, lo=0, note="0: the state is not an input")
    """Embedding width of the state input (also used by the state-conditioned decoders)."""
    reward_embed: int = bounded(8, lo=0, note="0: the reward is not an input")
    """Embedding width of the reward input."""
    # --- decoder and ELBO (VariBAD, Zintgraf et al., 2019; paper Sec. 3.1–3.2) ---
    reward_decoder: str = bounded("bernoulli-cells", choices=("bernoulli-cells", "deterministic", "bernoulli"))
    """'bernoulli-cells' (one logit per grid cell, p(r = 1 | cell, z); Rooms), 'deterministic'
    (MSE on r from (z, s')), 'bernoulli' (p(r = 1 | z, s'))."""
    reward_decoder_layers: tuple[int, ...] = bounded((32, 32), lo=1)
    """Hidden layers of the reward decoder (ReLU)."""
    decoder_input_action: bool = False
    """Feed the action to the state-conditioned reward decoder (needed on the MetaBandit)."""
    decode_state: bool = False
    """Also decode s_{t+1} from (z, s_t, a_t) (optional state decoder, MSE)."""
    state_decoder_layers: tuple[int, ...] = bounded((32, 32), lo=1)
    """Hidden layers of the state decoder."""
    reward_loss_coef: float = bounded(1.0, lo=0)
    """Weight of the reward reconstruction term."""
    state_loss_coef: float = bounded(1.0, lo=0)
    """Weight of the state reconstruction term."""
    kl_weight: float = bounded(0.01, lo=0)
    """Weight of KL(q(z|τ_{:t}) ‖ q(z|τ_{:t−1})) (the first belief against N(0, I))."""
    kl_batch_reduction: str = bounded("sum", choices=("sum", "mean"))
    """How the KL is reduced over the trajectories of a VAE batch: 'sum' (the original code, so the
    KL weighs batch-size times more than the per-trajectory-averaged reconstruction) or 'mean'."""
    reconstruction: str = bounded("global", choices=("global", "local"))
    """'global' (VariBAD: every belief b_t decodes the whole meta-episode) or 'local' (paper
    Sec. 3.2 / App. E: b_t decodes only ``local_window`` transitions around t)."""
    local_window: int = bounded(10, lo=1)
    """Transitions decoded by each belief under local reconstruction."""
    subsample_elbos: int = bounded(0, lo=0, note="0: all")
    """Belief indices t per trajectory whose ELBO_t enters a VAE update (0 = all H+1)."""
    subsample_decodes: int = bounded(0, lo=0, note="0: all")
    """Transitions decoded per ELBO term (0 = all in its window / the whole meta-episode)."""
    vae_lr: float = bounded(1e-3, gt=0)
    """Adam learning rate of encoder and decoders."""
    vae_updates: int = bounded(3, lo=0)
    """VAE gradient steps per PPO iteration (``num_vae_updates``)."""
    vae_batch_size: int = bounded(25, lo=1)
    """Meta-episodes per VAE update (``vae_batch_num_trajs``)."""
    vae_buffer_size: int = bounded(10_000, lo=1)
    """Meta-episodes kept for VAE training (first-in first-out)."""
    precollect: int = bounded(5_000, lo=0)
    """Env steps collected before the first update (fills the VAE buffer; ``precollect_len``)."""
    # --- HyperX exploration bonuses (Zintgraf et al., 2021) ---
    bonus_hyperstate: float = bounded(0.0, lo=0, note="0: off")
    """Weight of the RND novelty bonus on the hyper-state (s_{t+1}, b_{t+1}) (0 = off)."""
    bonus_vae_error: float = bounded(0.0, lo=0, note="0: off")
    """Weight of the bonus = reward reconstruction error of r_t from b_{t+1} (0 = off)."""
    bonus_anneal: bool = True
    """Multiply the bonuses by 1 − env_steps/steps (linear annealing to zero)."""
    bonus_clip: float = bounded(10.0, lo=0, note="0: no clip")
    """Clip of each normalised bonus (0 = no clip)."""
    rnd_lr: float = bounded(1e-4, gt=0)
    """Adam learning rate of the RND predictor."""
    rnd_batch_size: int = bounded(128, lo=1)
    """Hyper-states per RND update (√n time indices from each of √n stored meta-episodes)."""
    rnd_output: int = bounded(128, lo=1)
    """Output width of the RND prior and predictor networks."""
    rnd_layers: tuple[int, ...] = bounded((256, 256), lo=1)
    """Hidden layers of the RND prior and predictor networks."""
    rnd_weight_scale: float = unbounded(10.0, "a factor on fixed random weights: any scale, either sign, "
                                              "gives a random prior network")
    """Factor on the (fixed, random) prior network's initial weights."""
    # --- run-level fields whose default is the baselines' own (see RunConfig for the others) ---
    num_envs: int = override(RunConfig, "num_envs", 16)
    """Meta-episodes collected in parallel per PPO iteration (the original ``num_processes``)."""
    reward_in_obs: bool = override(RunConfig, "reward_in_obs", True, choices=(True,),
                                   note="varibad/hyperx/rl2 read the previous reward from the observation, "
                                        "also during evaluation")
    """The previous reward is read from the observation (must stay True: the policy acts from
    observations only, also in evaluation); it is not shown to VariBAD's policy."""
    steps: int = override(RunConfig, "steps", 10_000_000)
    """Real env steps to train for."""
    eval_every: int = override(RunConfig, "eval_every", 100_000)
    """Env steps between evaluations."""
    eval_greedy: bool = False
    """Act with the mode of the policy in evaluation. The baselines' default: sample; the original code
    evaluates with the mode (``eval_greedy=true``), which hides the progress of a still-stochastic
    grid-world policy."""
    device: str = override(RunConfig, "device", "cpu", choices=("auto", "cpu"),
                           note="auto = CPU: the PPO baselines run on CPU only")
    """'cpu' or 'auto' (= CPU): the networks are tiny and act one step at a time, so this version
    runs the baselines on CPU only."""

    def check_relations(self) -> None:
        """The belief encoder needs at least one input."""
        if self.state_embed + self.action_embed + self.reward_embed < 1:
            raise ValueError("config: the encoder needs at least one input: state_embed, action_embed or "
                             "reward_embed must be >= 1 (all are 0)")


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
                         f"only on state-based tasks (Sec. 4); valid envs: {', '.join(ENV_FAMILY)}")
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


def config_from_dict(d: dict[str, Any]) -> PPOConfig:
    """A saved config (``config.json``) as a :class:`PPOConfig` (fields added later keep their default)."""
    return apply_fields(PPOConfig(), dict(d), "saved config").validate()


__all__ = ["PPOConfig", "ALGO_PRESETS", "FAMILY_PRESETS", "ENV_FAMILY", "EXTRA_PRESETS", "PRESETS", "resolve_config",
           "config_from_dict"]
