"""A readable DreamerV3-style agent in PyTorch (Hafner et al., 2023), the backbone of MAMBA.

Modules, each readable on its own:

* :mod:`.distributions` — symlog/symexp, two-hot categorical over symexp bins, straight-through
  one-hot categorical with unimix, bounded Normal for continuous actions;
* :mod:`.networks` — MLP, CNN encoder/decoder building blocks;
* :mod:`.rssm` — the recurrent state-space model (GRU + discrete stochastic latents);
* :mod:`.world_model` — encoder, RSSM, decoder, reward and continue heads, KL balancing;
* :mod:`.actor_critic` — imagination, λ-returns, return normalisation, slow critic;
* :mod:`.replay` — replay of whole meta-episodes with Dreamer's window sampler and MAMBA's
  full-context sampler and horizon schedule;
* :mod:`.config` — the typed config and the named, stackable presets;
* :mod:`.agent` — ties them together: acting (a BatchPolicy) and one training update.
"""
