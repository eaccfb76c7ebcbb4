"""The authors' multi-step reconstruction heads (``recon_window``): pairing, masking, gradients, sizes."""
import gymnasium as gym
import numpy as np
import pytest
import torch

from mamba_edu.agents.dreamer.agent import DreamerAgent
from mamba_edu.agents.dreamer.config import resolve_config
from mamba_edu.agents.dreamer.multi_step_heads import window_pairs


def authors_pairs(T: int, rows: np.ndarray, window: int):
    """The released code's pairing, restated batch-major with explicit padding: for each sampled step t
    and offset k, the embedded step is t − p + k (padded outside the sequence), the target step is the
    one after it (masked where it is step 0 or past the end), and the feature is the (l·W + k) mod L-th
    sampled one (their ``feat.repeat(1, W, 1)`` against windows laid out step by step)."""
    p = (window - 1) // 2
    L = len(rows)
    out = []
    for l, t in enumerate(rows):
        for k in range(window):
            emb, target = t - p + k, t - p + k + 1
            valid = 1 <= target <= T - 1
            out.append(((l * window + k) % L, emb if 0 <= emb < T else None, valid))
    return out


@pytest.mark.parametrize("window", [1, 3, 5])
def test_window_pairs_follow_the_authors_layout(window):
    T, B, L = 12, 4, 6
    rng = np.random.default_rng(window)
    rows = rng.integers(0, T, size=(L, B))
    feat_row, steps, valid = window_pairs(torch.as_tensor(rows), window, T)
    for b in range(B):
        for j, (f, emb, ok) in enumerate(authors_pairs(T, rows[:, b], window)):
            assert feat_row[j, b].item() == f
            assert valid[j, b].item() == float(ok)
            if ok:
                assert steps[j, b].item() == emb


def _paper_agent(**over):
    cfg = resolve_config("mamba", "PointRobot", ["paper", "quick"], {"device": "cpu", **over})
    return DreamerAgent(cfg, gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
                        gym.spaces.Box(-1, 1, (2,), np.float32), 300)


def _batch(T=20, B=3):
    torch.manual_seed(0)
    return {"obs": torch.randn(T, B, 4), "prev_action": torch.rand(T, B, 2) * 2 - 1,
            "reward": torch.rand(T, B), "terminal": torch.zeros(T, B)}


def test_multi_step_losses_train_encoder_and_latent_state():
    wm = _paper_agent(recon_window=3).wm
    batch, idx = _batch(), torch.randint(0, 20, (5, 3))
    _, _, metrics = wm.loss(batch, idx)
    for name in ("multi_decoder", "multi_reward", "multi_cont"):
        assert torch.isfinite(metrics[f"wm/{name}"]) and metrics[f"wm/{name}"] > 0
    # only the multi-step terms: their gradient must reach the encoder and the RSSM (their grad_heads)
    wm.zero_grad()
    embed = wm.encoder(batch["obs"])
    post = wm._posterior(embed, batch, None, None)
    from mamba_edu.agents.dreamer.time_major import gather_time
    feat = wm.rssm.features(gather_time(post, idx))
    sum(wm._multi_step_losses(feat, embed, batch, idx, None).values()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in wm.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in wm.rssm.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in wm.reward_head.parameters())


def test_masked_pairs_carry_no_gradient_from_their_targets():
    """Windows around the last step: only s = 18 → 19 is a valid pair, so changing the observation
    targets anywhere else leaves the loss unchanged, and changing step 19 changes it."""
    wm = _paper_agent(recon_window=3).wm
    batch = _batch()
    idx = torch.full((4, 3), 19)          # windows at the last step: s = 18, 19, 20 → only s = 18 is valid
    embed = wm.encoder(batch["obs"])
    post = wm._posterior(embed, batch, None, None)
    from mamba_edu.agents.dreamer.time_major import gather_time
    feat = wm.rssm.features(gather_time(post, idx)).detach()
    base = wm._multi_step_losses(feat, embed.detach(), batch, idx, None)
    changed = dict(batch, obs=batch["obs"].clone())
    changed["obs"][:19] += 5.0             # every step but the one valid target (19); embeddings kept
    again = wm._multi_step_losses(feat, embed.detach(), changed, idx, None)
    torch.testing.assert_close(again["multi_decoder"], base["multi_decoder"])
    changed["obs"][19] += 5.0
    assert wm._multi_step_losses(feat, embed.detach(), changed, idx, None)["multi_decoder"] != base["multi_decoder"]


def test_recon_window_zero_keeps_the_papers_model_and_its_checkpoints():
    plain = _paper_agent().wm
    assert plain.multi_step is None
    with_heads = _paper_agent(recon_window=3).wm
    extra = set(with_heads.state_dict()) - set(plain.state_dict())
    assert extra and all(k.startswith("multi_step.") for k in extra)
    assert set(plain.state_dict()) <= set(with_heads.state_dict())


def test_paper_sizes_with_the_heads_match_the_authors_world_model():
    """At the ``paper`` sizes, the world model with three multi-step heads has the authors' parameter
    count on PointRobot (5,121,032 with their ``reconstruction_window: 3``; docs/mamba.md)."""
    mp = pytest.MonkeyPatch()
    mp.delenv("MAMBA_EDU_QUICK", raising=False)
    try:
        cfg = resolve_config("mamba", "PointRobot", ["paper"], {"device": "cpu", "recon_window": 3})
    finally:
        mp.undo()
    agent = DreamerAgent(cfg, gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
                         gym.spaces.Box(-1, 1, (2,), np.float32), 300)
    assert sum(p.numel() for p in agent.wm.parameters()) == 5_121_032


def test_images_are_refused_with_a_clear_message():
    from mamba_edu.agents.dreamer.world_model import WorldModel
    cfg = resolve_config("mamba", "PointRobot", ["quick"], {"device": "cpu", "recon_window": 3})
    with pytest.raises(ValueError, match="vector observations only"):
        WorldModel(cfg, 2, 2, image_shape=(64, 64, 3))
