"""Issue #10: cheaper full context. Each strategy must hand the loss the same states a full-context
pass computes (the information from the meta-episode's start is kept); checked with the latent
sampling made deterministic (zero Gumbel noise = the mode)."""
import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import mamba_edu.agents.dreamer.rssm as rssm_module
from mamba_edu.agents.dreamer.agent import DreamerAgent
from mamba_edu.agents.dreamer.config import resolve_config
from mamba_edu.agents.dreamer.replay import Replay
from mamba_edu.training.loop import train

H = 95  # stored length 96 = 6 checkpoints of stride 16


@pytest.fixture
def deterministic_latents(monkeypatch):
    monkeypatch.setattr(rssm_module, "gumbel_noise", lambda shape, device=None, dtype=torch.float32:
                        torch.zeros(shape, device=device, dtype=dtype))


def make(context: str, **over):
    torch.manual_seed(0)
    cfg = resolve_config("mamba", "PointRobot", ["quick"], {"context": context, "seq_len": 32, "burn_in": 16,
                                                            "state_stride": 16, **over})
    obs = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    agent = DreamerAgent(cfg, obs, gym.spaces.Box(-1, 1, (2,), np.float32), H)
    rp = Replay(40 * (H + 1), H + 1, agent.replay_layout, 2, seed=3)
    agent.prepare_replay(rp)
    rng = np.random.default_rng(0)
    n = 12
    slots = rp.add({"obs": rng.normal(size=(n, H + 1, 4)).astype(np.float32),
                    "prev_action": rng.uniform(-1, 1, (n, H + 1, 2)).astype(np.float32),
                    "reward": rng.random((n, H + 1)).astype(np.float32),
                    "terminal": np.zeros((n, H + 1), np.float32)})
    agent.episodes_added(rp, slots)
    return agent, rp


def full_pass(agent, rp, slots):
    seqs = {k: v[slots] for k, v in rp.data.items()}
    with torch.no_grad():
        return agent.wm.observe(agent._batch_to_torch(seqs))


def test_nograd_prefix_window_sees_full_context(deterministic_latents):
    agent, rp = make("nograd-prefix")
    rng_state = rp.rng.bit_generator.state
    cb = agent.context.sample(rp, 10**9, 0)
    rp.rng.bit_generator.state = rng_state           # replay the sampler's draws to know episodes and starts
    eps = rp._pick(agent.cfg.batch_size)
    rp.rng.bit_generator.state = rng_state
    _, s = rp.sample_prefix_windows(agent.cfg.batch_size, agent.cfg.seq_len, H + 1)
    full = full_pass(agent, rp, eps)
    with torch.no_grad():
        win = agent.wm.observe(cb.batch, cb.start)
    assert win["deter"].shape[0] == 32
    for b in range(len(eps)):
        torch.testing.assert_close(win["deter"][:, b], full["deter"][s[b]:s[b] + 32, b], atol=1e-5, rtol=1e-5)
    assert cb.indices is None and cb.metrics["ctx/nograd_steps"] == pytest.approx(s.mean())


def test_stored_state_burn_in_matches_full_pass(deterministic_latents):
    agent, rp = make("stored-state")
    assert (rp.states["version"][:12, 1:] == 0).all()       # written at insertion, checkpoint 0 = initial
    full = full_pass(agent, rp, np.arange(12))
    # checkpoint j = state after step j·16 − 1
    np.testing.assert_allclose(rp.states["deter"][:12, 2], full["deter"][31].numpy(), atol=1e-5)
    np.testing.assert_array_equal(rp.states["stoch"][:12, 3], full["stoch"][47].argmax(-1).numpy())
    rng_state = rp.rng.bit_generator.state
    cb = agent.context.sample(rp, 10**9, 0)
    rp.rng.bit_generator.state = rng_state
    got = rp.sample_stored_windows(agent.cfg.batch_size, 32, 16, H + 1)
    s = got["window_start"]
    assert s.min() >= 0 and (s + 32).max() <= H + 1
    eps = got["slots"]
    full = full_pass(agent, rp, eps)
    with torch.no_grad():
        win = agent.wm.observe(cb.batch, cb.start)
    for b in range(len(eps)):
        torch.testing.assert_close(win["deter"][:, b], full["deter"][s[b]:s[b] + 32, b], atol=1e-5, rtol=1e-5)


def test_stored_state_windows_weigh_every_step_equally():
    """Every step of the prefix is trained on, each equally often (the loss weights count it)."""
    _, rp = make("stored-state")
    counts = np.zeros(H + 1)
    for _ in range(400):
        got = rp.sample_stored_windows(50, 32, 16, H + 1)
        w = got["window_start"]
        assert w.min() >= 0 and (w + 32).max() <= H + 1
        assert ((got["start"] <= 0) | (got["start"] % 16 == 0)).all()
        burn = w - np.maximum(got["start"], 0)
        assert (burn >= np.minimum(w, 16)).all() and (burn <= 16 + 15).all()
        np.add.at(counts, w[:, None] + np.arange(32)[None], got["weights"])
    expected = 400 * 50 * 32 / (H + 32)            # each step: 32 of the H + 32 equally likely draws
    assert counts.min() > 0.85 * expected and counts.max() < 1.15 * expected
    assert counts[-12:].min() > 0.85 * expected and counts[:48].min() > 0.85 * expected


def test_stored_state_writeback_refresh_and_staleness(deterministic_latents):
    agent, rp = make("stored-state", state_refresh_every=0, stale_check_every=1)
    m = agent.train_step(rp, 10**9)
    # states stored by the current model: no staleness (and no sampling noise with these latents)
    assert m["ctx/stale_deter_err"] < 1e-5 and m["ctx/resample_deter_err"] == 0 and m["ctx/state_age"] == 0
    for _ in range(3):
        m = agent.train_step(rp, 10**9)
    assert m["ctx/stale_deter_err"] > 1e-4            # the model moved since the states were stored
    assert rp.states["version"].max() == 3             # training windows write their posteriors back
    agent.context.refresh(rp, np.arange(rp.size), agent.updates)
    assert (rp.states["version"][:12, 1:] == 4).all()
    m = agent.train_step(rp, 10**9)
    assert m["ctx/stale_deter_err"] < 1e-5
    state = rp.state_dict()
    rp2 = Replay(40 * (H + 1), H + 1, agent.replay_layout, 2, seed=3)
    agent.prepare_replay(rp2)
    rp2.load_state_dict(state)
    for k in rp.states:
        np.testing.assert_array_equal(rp2.states[k][: rp.size], rp.states[k][: rp.size])


def test_stored_state_round_robin_refresh_bounds_age():
    agent, rp = make("stored-state", state_refresh_every=2, stale_check_every=0)
    for _ in range(8):
        agent.train_step(rp, 10**9)
    # 12 episodes, 8 refreshed every 2 updates: after 8 updates every checkpoint is at most 4 updates old
    assert agent.updates - rp.states["version"][:12, 1:].min() <= 4


def test_context_config_errors():
    with pytest.raises(ValueError, match="context must be one of full, nograd-prefix, stored-state"):
        resolve_config("mamba", "PointRobot", None, {"context": "chunks"})
    with pytest.raises(ValueError, match="needs full_context=True"):
        resolve_config("dreamer-tune", "PointRobot", ["stored-state"])
    with pytest.raises(ValueError, match="multiple of state_stride"):
        resolve_config("mamba", "PointRobot", ["stored-state"], {"burn_in": 10})


@pytest.mark.parametrize("preset", ["nograd-prefix", "stored-state"])
def test_context_presets_train_and_resume(tmp_path, preset):
    over = {"steps": 480, "eval_every": 240, "prefill": 160, "eval_tasks": 8, "final_tasks": 16, "deter": 32,
            "hidden": 16, "stoch": 4, "classes": 4, "units": 32, "batch_size": 4, "seq_len": 8,
            "state_stride": 4, "burn_in": 4, "imag_starts": 8, "train_ratio": 16}
    full = train("mamba", "MetaBandit", [preset], over, out=tmp_path / "full", progress=False)
    part = train("mamba", "MetaBandit", [preset], over, out=tmp_path / "part", progress=False, stop_after_steps=240)
    train(None, None, out=part, resume=True, progress=False)
    a = json.loads((full / "final.json").read_text())
    b = json.loads((part / "final.json").read_text())
    assert a["return_mean"] == b["return_mean"] and a["sub_episode_returns_mean"] == b["sub_episode_returns_mean"]
    assert (full / "metrics.csv").read_text().splitlines()[1:] != []
    rows = lambda run: [line.split(",")[2:] for line in (run / "metrics.csv").read_text().splitlines()]  # noqa: E731
    assert rows(full) == rows(part)


def test_nograd_prefix_loss_and_gradients_match_full_unroll_in_the_window(deterministic_latents):
    """The window's world-model loss equals the full unroll's loss at the same steps. Gradients: the heads
    (decoder, reward, continue) get exactly the full unroll's gradients; the encoder and RSSM get the
    full unroll's gradients truncated at the window start (what the strategy trades for its speed), i.e.
    those of a full unroll whose state entering the window is detached. (The full unroll's KL is taken at
    the same steps: ``kl_all_steps=False``.)"""
    agent, rp = make("nograd-prefix", kl_all_steps=False)
    wm, L = agent.wm, agent.cfg.seq_len
    rng_state = rp.rng.bit_generator.state
    cb = agent.context.sample(rp, 10**9, 0)
    rp.rng.bit_generator.state = rng_state
    eps = rp._pick(agent.cfg.batch_size)
    rp.rng.bit_generator.state = rng_state
    _, s = rp.sample_prefix_windows(agent.cfg.batch_size, L, H + 1)
    assert s.max() > 0                                           # some windows really have a prefix

    def grads(loss):
        wm.zero_grad(set_to_none=True)
        loss.backward()
        return {n: p.grad.clone() for n, p in wm.named_parameters() if p.grad is not None}

    loss_win, _, _ = wm.loss(cb.batch, None, cb.start)
    g_win = grads(loss_win)

    full_batch = agent._batch_to_torch({k: v[eps] for k, v in rp.data.items()})
    idx = torch.as_tensor(s).view(1, -1) + torch.arange(L).view(-1, 1)
    loss_full, _, _ = wm.loss(full_batch, idx)
    g_full = grads(loss_full)
    torch.testing.assert_close(loss_win, loss_full, atol=1e-5, rtol=1e-5)
    heads = [n for n in g_win if n.startswith(("vec_decoder", "reward_head", "cont_head"))]
    assert heads
    for n in heads:
        torch.testing.assert_close(g_win[n], g_full[n], atol=1e-5, rtol=1e-4)
    # the recurrent core's gradient differs: the full unroll also sends it back through the prefix
    core = [n for n in g_win if n.startswith("rssm")]
    assert any(not torch.allclose(g_win[n], g_full[n], atol=1e-6) for n in core)
    # ... and equals that of a full unroll with the state entering the window detached
    with torch.no_grad():
        post = wm.observe(full_batch)
    before = torch.as_tensor(np.maximum(s - 1, 0))
    cols = torch.arange(len(s))
    start = {k: v[before, cols] for k, v in post.items()}
    init = wm.rssm.initial(len(s))
    first = torch.as_tensor(s == 0)
    start = {k: torch.where(first.view(-1, *[1] * (v.dim() - 1)), init[k], v) for k, v in start.items()}
    window = {k: (v[idx, cols] if torch.is_tensor(v) else v) for k, v in full_batch.items()}
    loss_det, _, _ = wm.loss(window, None, start)
    g_det = grads(loss_det)
    for n in g_win:
        torch.testing.assert_close(g_win[n], g_det[n], atol=1e-5, rtol=1e-4)
