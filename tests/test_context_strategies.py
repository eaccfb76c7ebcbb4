"""The context strategies: Dreamer's windows, MAMBA's full meta-episode unroll and two cheaper ways
to MAMBA's context (a no-gradient prefix; stored states with a burn-in). Each cheaper strategy must
hand the loss the same states a full-context pass computes (the information from the meta-episode's
start is kept); checked with the latent sampling made deterministic (``zero_noise``: zero Gumbel
noise = the mode), passed to the strategy and to the world model's passes as an argument."""
import copy
import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from mamba_edu.agents.dreamer.agent import DreamerAgent
from mamba_edu.agents.dreamer.config import resolve_config
from mamba_edu.agents.dreamer.context import (CONTEXTS, FROM_INITIAL, NEVER_WRITTEN, STRATEGIES, FullContext,
                                              NoGradPrefixContext, StoredStateContext, StoredStates, WindowContext,
                                              make_context)
from mamba_edu.agents.dreamer.replay import Replay
from mamba_edu.agents.dreamer.time_major import gather_time
from mamba_edu.agents.dreamer.world_model import zero_noise
from mamba_edu.training.loop import train

H = 95  # stored length 96 = 6 checkpoints of stride 16


def make(context: str, noise=None, algo: str = "mamba", notify: bool = True, **over):
    """An agent and a replay of 12 random meta-episodes. ``noise``: the noise source of the RSSM passes
    the context strategy runs itself; ``notify=False`` fills the replay without telling the agent."""
    torch.manual_seed(0)
    over = {"seq_len": 32, **over}
    if algo == "mamba":
        over = {"context": context, "burn_in": 16, "state_stride": 16, **over}
    cfg = resolve_config(algo, "PointRobot", ["quick"], over)
    obs = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    agent = DreamerAgent(cfg, obs, gym.spaces.Box(-1, 1, (2,), np.float32), H)
    if noise is not None:
        agent.context = make_context(cfg, agent.wm, agent.context.to_torch, agent.device, noise=noise)
    rp = Replay(40 * (H + 1), H + 1, agent.replay_layout, 2, seed=3)
    agent.prepare_replay(rp)
    rng = np.random.default_rng(0)
    n = 12
    slots = rp.add({"obs": rng.normal(size=(n, H + 1, 4)).astype(np.float32),
                    "prev_action": rng.uniform(-1, 1, (n, H + 1, 2)).astype(np.float32),
                    "reward": rng.random((n, H + 1)).astype(np.float32),
                    "terminal": np.zeros((n, H + 1), np.float32)})
    if notify:
        agent.episodes_added(rp, slots)
    return agent, rp


def full_pass(agent, rp, slots):
    seqs = {k: v[slots] for k, v in rp.data.items()}
    with torch.no_grad():
        return agent.wm.observe(agent.context.to_torch(seqs), noise=zero_noise)


def test_nograd_prefix_window_sees_full_context():
    agent, rp = make("nograd-prefix", zero_noise)
    cb = agent.context.sample(rp, 10**9, 0)
    eps, s = cb.episodes, cb.window_start              # which meta-episodes and steps the batch holds
    full = full_pass(agent, rp, eps)
    with torch.no_grad():
        win = agent.wm.observe(cb.batch, cb.start, noise=zero_noise)
    assert win["deter"].shape[0] == 32
    for b in range(len(eps)):
        torch.testing.assert_close(win["deter"][:, b], full["deter"][s[b]:s[b] + 32, b], atol=1e-5, rtol=1e-5)
    assert cb.indices is None and cb.metrics["ctx/nograd_steps"] == pytest.approx(s.mean())


def test_stored_state_burn_in_matches_full_pass():
    agent, rp = make("stored-state", zero_noise)
    store = agent.context.store(rp)
    assert (store.version[:12, 1:] == 0).all()       # written at insertion, checkpoint 0 = initial
    full = full_pass(agent, rp, np.arange(12))
    # checkpoint j = state after step j·16 − 1
    np.testing.assert_allclose(store.deter[:12, 2], full["deter"][31].numpy(), atol=1e-5)
    np.testing.assert_array_equal(store.stoch[:12, 3], full["stoch"][47].argmax(-1).numpy())
    cb = agent.context.sample(rp, 10**9, 0)
    s = cb.window_start
    assert s.min() >= 0 and (s + 32).max() <= H + 1
    eps = cb.episodes
    full = full_pass(agent, rp, eps)
    with torch.no_grad():
        win = agent.wm.observe(cb.batch, cb.start, noise=zero_noise)
    for b in range(len(eps)):
        torch.testing.assert_close(win["deter"][:, b], full["deter"][s[b]:s[b] + 32, b], atol=1e-5, rtol=1e-5)


def test_stored_state_windows_weigh_every_step_equally():
    """Every step of the prefix is trained on, each equally often (the loss weights count it)."""
    _, rp = make("stored-state")
    counts = np.zeros(H + 1)
    for _ in range(400):
        got = rp.sample_burn_in_windows(50, 32, 16, 16, H + 1)
        w = got["window_start"]
        assert w.min() >= 0 and (w + 32).max() <= H + 1
        assert ((got["start"] <= 0) | (got["start"] % 16 == 0)).all()
        burn = w - np.maximum(got["start"], 0)
        assert (burn >= np.minimum(w, 16)).all() and (burn <= 16 + 15).all()
        np.add.at(counts, w[:, None] + np.arange(32)[None], got["weights"])
    expected = 400 * 50 * 32 / (H + 32)            # each step: 32 of the H + 32 equally likely draws
    assert counts.min() > 0.85 * expected and counts.max() < 1.15 * expected
    assert counts[-12:].min() > 0.85 * expected and counts[:48].min() > 0.85 * expected


def test_stored_state_writeback_refresh_and_staleness():
    agent, rp = make("stored-state", zero_noise, state_refresh_every=0, stale_check_every=1)
    store = agent.context.store(rp)
    m = agent.train_step(rp, 10**9)
    # states stored by the current model: no staleness (and no sampling noise with these latents)
    assert m["ctx/stale_deter_err"] < 1e-5 and m["ctx/resample_deter_err"] == 0 and m["ctx/state_age"] == 0
    for _ in range(3):
        m = agent.train_step(rp, 10**9)
    assert m["ctx/stale_deter_err"] > 1e-4            # the model moved since the states were stored
    assert store.version.max() == 3             # training windows write their posteriors back
    agent.context.refresh(rp, np.arange(rp.size), agent.updates)
    assert (store.version[:12, 1:] == 4).all()
    m = agent.train_step(rp, 10**9)
    assert m["ctx/stale_deter_err"] < 1e-5
    state = rp.state_dict()
    rp2 = Replay(40 * (H + 1), H + 1, agent.replay_layout, 2, seed=3)
    agent.prepare_replay(rp2)
    rp2.load_state_dict(state)
    assert agent.context.store(rp2) is not store
    for k, v in store.state_dict(rp.size).items():
        np.testing.assert_array_equal(agent.context.store(rp2).state_dict(rp.size)[k], v)


def test_stored_state_round_robin_refresh_bounds_age():
    agent, rp = make("stored-state", state_refresh_every=2, stale_check_every=0)
    for _ in range(8):
        agent.train_step(rp, 10**9)
    # 12 episodes, 8 refreshed every 2 updates: after 8 updates every checkpoint is at most 4 updates old
    assert agent.updates - agent.context.store(rp).version[:12, 1:].min() <= 4


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


def test_nograd_prefix_loss_and_gradients_match_full_unroll_in_the_window():
    """The window's world-model loss equals the full unroll's loss at the same steps. Gradients: the heads
    (decoder, reward, continue) get exactly the full unroll's gradients; the encoder and RSSM get the
    full unroll's gradients truncated at the window start (what the strategy trades for its speed), i.e.
    those of a full unroll whose state entering the window is detached. (The full unroll's KL is taken at
    the same steps: ``kl_all_steps=False``.)"""
    agent, rp = make("nograd-prefix", zero_noise, kl_all_steps=False)
    wm, L = agent.wm, agent.cfg.seq_len
    cb = agent.context.sample(rp, 10**9, 0)
    eps, s = cb.episodes, cb.window_start
    assert s.max() > 0                                           # some windows really have a prefix

    def grads(loss):
        wm.zero_grad(set_to_none=True)
        loss.backward()
        return {n: p.grad.clone() for n, p in wm.named_parameters() if p.grad is not None}

    loss_win, _, _ = wm.loss(cb.batch, None, cb.start, noise=zero_noise)
    g_win = grads(loss_win)

    full_batch = agent.context.to_torch({k: v[eps] for k, v in rp.data.items()})
    idx = torch.as_tensor(s).view(1, -1) + torch.arange(L).view(-1, 1)
    loss_full, _, _ = wm.loss(full_batch, idx, noise=zero_noise)
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
        post = wm.observe(full_batch, noise=zero_noise)
    start = {k: v[0] for k, v in gather_time(post, torch.as_tensor(np.maximum(s - 1, 0)).view(1, -1)).items()}
    init = wm.rssm.initial(len(s))
    first = torch.as_tensor(s == 0)
    start = {k: torch.where(first.view(-1, *[1] * (v.dim() - 1)), init[k], v) for k, v in start.items()}
    window = gather_time(full_batch, idx)
    loss_det, _, _ = wm.loss(window, None, start, noise=zero_noise)
    g_det = grads(loss_det)
    for n in g_win:
        torch.testing.assert_close(g_win[n], g_det[n], atol=1e-5, rtol=1e-4)


# ----- the strategies behind one interface ---------------------------------------------------------------
def test_factory_picks_one_strategy_class_from_the_config():
    assert set(CONTEXTS) == {"window", *STRATEGIES}
    want = {"full": FullContext, "nograd-prefix": NoGradPrefixContext, "stored-state": StoredStateContext}
    for name, cls in want.items():
        agent, _ = make(name)
        assert type(agent.context) is cls and agent.context.name == name
    agent, _ = make(None, algo="dreamer-tune")          # full_context=False: Dreamer's windows, whatever `context`
    assert type(agent.context) is WindowContext and not agent.cfg.full_context


def test_zero_noise_makes_posterior_passes_deterministic():
    agent, rp = make("full")
    batch = agent.context.to_torch({k: v[:3] for k, v in rp.data.items()})
    with torch.no_grad():
        a, b = (agent.wm.observe(batch, noise=zero_noise)["deter"] for _ in range(2))
        c, d = (agent.wm.observe(batch)["deter"] for _ in range(2))
    assert torch.equal(a, b) and not torch.equal(c, d)


# Reference values computed with the code before the strategies became classes (the same seeds):
# sums of the batch, the loss and its gradient norm, then 4 training updates on a fresh agent.
REFERENCE = {
    "window": dict(obs=-90.869917, reward=127.963072, act=-16.774574, idx=None, w=None, start=None, prefix=32,
                   loss=8.754438, grad=6.442062, metrics={}, window_start=None,
                   train=[8.71889, 8.756725, 8.874258, 8.615965], gwm=[6.39221, 6.88898, 6.92661, 5.45483]),
    "full": dict(obs=-77.107054, reward=376.756196, act=-36.064056, idx=12287.0, w=None, start=None, prefix=96,
                 loss=8.801378, grad=10.408626, metrics={}, window_start=[0] * 8,
                 train=[8.768922, 8.887889, 8.725975, 8.676199], gwm=[10.91295, 8.80165, 6.81276, 5.46597]),
    "full-early": dict(obs=-145.65727, reward=224.454823, act=-43.801952, idx=7245.0, w=None, start=None, prefix=57,
                       loss=8.759493, grad=8.616953, metrics={}, window_start=[0] * 8,
                       train=[8.682849, 8.667242, 8.652658, 8.792878], gwm=[9.37081, 6.78208, 7.0187, 7.28447]),
    "nograd": dict(obs=-90.869917, reward=127.963072, act=-16.774574, idx=None, w=None, start=-8.420065, prefix=96,
                   loss=8.801001, grad=6.478521, metrics={"ctx/nograd_steps": 19.375},
                   window_start=[2, 6, 21, 28, 40, 31, 17, 10],
                   train=[8.798319, 8.931696, 8.98565, 8.62243], gwm=[7.62435, 8.19266, 7.75609, 4.88369]),
    "stored": dict(obs=-73.175443, reward=126.688199, act=-10.161614, idx=None, w=199.0, start=-6.81953, prefix=96,
                   loss=8.745259, grad=5.344852, window_start=[0, 0, 11, 24, 47, 29, 2, 0],
                   metrics={"ctx/state_age": 0.0, "ctx/stale_deter_err": 0.848177, "ctx/resample_deter_err": 0.53582},
                   train=[8.709643, 8.898886, 8.883398, 8.564445], gwm=[6.32179, 7.60749, 7.12127, 5.55518]),
    "stored-missing": dict(obs=-73.175443, reward=126.688199, act=-10.161614, idx=None, w=199.0, start=-5.650362,
                           prefix=96, loss=8.7724, grad=5.7677, window_start=[0, 0, 11, 24, 47, 29, 2, 0],
                           metrics={"ctx/state_age": 0.0, "ctx/stale_deter_err": 0.90322,
                                    "ctx/resample_deter_err": 0.963655},
                           train=[8.760478, 8.901017, 8.81785, 8.686744], gwm=[5.47147, 7.92825, 8.24946, 5.56623]),
}
CASES = {"window": (dict(context=None, algo="dreamer-tune"), 10**9),
         "full": (dict(context="full"), 10**9),
         "full-early": (dict(context="full", wm_horizon_steps=1000, wm_horizon_initial=40), 300),  # H' = 57 < 96
         "nograd": (dict(context="nograd-prefix"), 10**9),
         "stored": (dict(context="stored-state", stale_check_every=1, state_refresh_every=2), 10**9),
         # the replay filled without telling the agent: every checkpoint is computed when first needed
         "stored-missing": (dict(context="stored-state", stale_check_every=1, state_refresh_every=2, notify=False),
                            10**9)}


@pytest.mark.parametrize("case", list(CASES))
def test_batches_losses_and_updates_equal_the_reference(case):
    """Same seeds, same batch, loss, gradients and updates as before the refactoring (tolerances only for
    float summation order)."""
    kwargs, env_steps = CASES[case]
    ref = REFERENCE[case]
    approx = dict(rel=1e-4, abs=1e-5)

    def total(x):
        return None if x is None else float(torch.as_tensor(x).detach().double().sum())

    agent, rp = make(**kwargs)
    torch.manual_seed(5)
    cb = agent.context.sample(rp, env_steps, 0)
    assert cb.episodes.tolist() == [9, 1, 2, 2, 2, 9, 10, 6]
    assert (None if cb.window_start is None else cb.window_start.tolist()) == ref["window_start"]
    got = dict(obs=total(cb.batch["obs"]), reward=total(cb.batch["reward"]), act=total(cb.batch["prev_action"]),
               idx=total(cb.indices), w=total(cb.weights), start=None if cb.start is None else total(cb.start["deter"]))
    for k, v in got.items():
        assert v == (None if ref[k] is None else pytest.approx(ref[k], **approx)), k
    assert cb.prefix == ref["prefix"]
    assert cb.metrics == pytest.approx(ref["metrics"], **approx)
    torch.manual_seed(1)
    loss, _, _ = agent.wm.loss(cb.batch, cb.indices, cb.start, cb.weights)
    loss.backward()
    loss = float(loss.detach())
    grad = float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in agent.wm.parameters() if p.grad is not None)))
    assert loss == pytest.approx(ref["loss"], **approx) and grad == pytest.approx(ref["grad"], **approx)

    agent, rp = make(**kwargs)
    torch.manual_seed(2)
    metrics = [agent.train_step(rp, env_steps) for _ in range(4)]
    assert [m["losses/world_model"] for m in metrics] == pytest.approx(ref["train"], **approx)
    assert [m["grad/world_model"] for m in metrics] == pytest.approx(ref["gwm"], **approx)


# ----- the stored states and checkpoints -------------------------------------------------------------------
def test_stored_states_versions_and_lookup():
    agent, rp = make("stored-state", notify=False)
    store = agent.context.store(rp)
    assert isinstance(store, StoredStates) and store.n_ckpt == 6 and store.stride == 16
    assert (store.version[:12] == NEVER_WRITTEN).all()
    agent.episodes_added(rp, np.arange(12))
    assert (store.version[:12, 1:] == 0).all() and (store.version[:12, 0] == NEVER_WRITTEN).all()
    deter, stoch, version = store.lookup(np.array([3, 3, 4]), np.array([-16, 0, 32]))
    assert version.tolist() == [FROM_INITIAL, FROM_INITIAL, 0]          # step ≤ 0: the learned initial state
    np.testing.assert_array_equal(deter[2], store.deter[4, 2])
    np.testing.assert_array_equal(stoch[2], store.stoch[4, 2])
    # a slot that gets a new meta-episode forgets its states (the replay tells its attachments)
    rp2 = Replay(12 * (H + 1), H + 1, agent.replay_layout, 2)
    agent.prepare_replay(rp2)
    rp2.add({k: v[:12] for k, v in rp.data.items()})
    agent.episodes_added(rp2, np.arange(12))
    rp2.add({k: v[:2] for k, v in rp.data.items()})                     # FIFO: overwrites slots 0 and 1
    assert (agent.context.store(rp2).version[:2] == NEVER_WRITTEN).all()
    assert (agent.context.store(rp2).version[2:12, 1:] == 0).all()


def test_replay_checkpoint_layout_unchanged_and_old_layout_loads():
    """The replay's saved state keeps the layout it had when the stored states lived in the replay:
    top-level keys data, size, next, episodes_added, rng, states; states = deter, stoch, version of the
    stored slots. A state in that layout (as an existing run's checkpoint holds it) loads and resumes."""
    agent, rp = make("stored-state", state_refresh_every=2)
    for _ in range(2):
        agent.train_step(rp, 10**9)
    state = rp.state_dict()
    assert list(state) == ["data", "size", "next", "episodes_added", "rng", "states"]
    assert list(state["states"]) == ["deter", "stoch", "version"]
    n_ckpt, cfg = (H + 1 + 15) // 16, agent.cfg
    assert state["states"]["deter"].shape == (12, n_ckpt, cfg.deter) and state["states"]["deter"].dtype == np.float32
    assert state["states"]["stoch"].shape == (12, n_ckpt, cfg.stoch) and state["states"]["stoch"].dtype == np.uint8
    assert state["states"]["version"].shape == (12, n_ckpt) and state["states"]["version"].dtype == np.int64
    # the old layout written out by hand (plain arrays, as torch.load returns them), into a fresh learner
    old = {"data": {k: np.array(v) for k, v in state["data"].items()}, "size": 12, "next": 12, "episodes_added": 12,
           "rng": state["rng"], "states": {k: np.array(v) for k, v in state["states"].items()}}
    agent_state = copy.deepcopy(agent.state_dict())      # as a checkpoint file holds it: no tensor shared
    assert agent_state["context"] == {"refresh_cursor": agent.context.state_dict()["refresh_cursor"]}
    fresh, _ = make("stored-state", state_refresh_every=2, notify=False)
    rp2 = Replay(40 * (H + 1), H + 1, fresh.replay_layout, 2, seed=99)
    fresh.prepare_replay(rp2)
    fresh.load_state_dict(agent_state)
    rp2.load_state_dict(old)
    for k, v in state["states"].items():
        np.testing.assert_array_equal(fresh.context.store(rp2).state_dict(12)[k], v)
    torch.manual_seed(7)
    a = agent.train_step(rp, 10**9)
    torch.manual_seed(7)
    b = fresh.train_step(rp2, 10**9)
    # the last staleness measurement is only repeated in the log between checks, not saved
    assert {k: a[k] for k in b} == b and set(a) - set(b) <= {"ctx/stale_deter_err", "ctx/resample_deter_err"}
    for k, v in agent.context.store(rp).state_dict(12).items():
        np.testing.assert_array_equal(fresh.context.store(rp2).state_dict(12)[k], v)
