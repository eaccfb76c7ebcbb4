"""Context-based meta-RL baselines on one PPO: VariBAD (global and local reconstruction), HyperX, RL².

The paper compares MAMBA with these (Sec. 4, Tables 1 and 5) and uses VariBAD with a *local*
reconstruction window to show why local reconstruction suits decomposable tasks (Sec. 3.2,
App. E, Table 3). Modules, each readable top to bottom:

* :mod:`.ppo` — PPO: return normalisation, GAE, clipped surrogate and value losses, minibatches;
* :mod:`.varibad` — belief encoder, reward/state decoders, the ELBO with global or local
  reconstruction windows, the belief-conditioned policy, the meta-episode buffer;
* :mod:`.hyperx` — HyperX's RND hyper-state bonus and VAE-error bonus (normalised, annealed);
* :mod:`.rl2` — RL²'s recurrent actor-critic over (observation, previous action, previous reward);
* :mod:`.gru` — the GRU over whole sequences of the VariBAD encoder and RL², with a backward pass
  batched over time (the same gradients as ``nn.GRU``, fewer small operations on a CPU);
* :mod:`.config` — the typed config, the authors' hyperparameters as presets;
* :mod:`.learner` — the learners on the shared training loop (one PPO iteration per batch of
  meta-episodes);
* :mod:`.probe` — for figures: the reward decoder's prediction at every grid cell for a belief,
  and the belief trajectory of a rollout.

Train one from the command line: ``python -m mamba_edu train --algo varibad-local --env Rooms-3``.
"""
from mamba_edu.agents.ppo.config import PPOConfig, resolve_config

__all__ = ["PPOConfig", "resolve_config"]
