"""Unit tests of the Dreamer/MAMBA building blocks."""
import numpy as np
import pytest
import torch

from mamba_edu.agents.dreamer.actor_critic import ReturnNormalizer, lambda_returns
from mamba_edu.agents.dreamer.config import ALGO_PRESETS, DreamerConfig, resolve_config
from mamba_edu.agents.dreamer.distributions import (
    BoundedNormal,
    TwoHot,
    gumbel_noise,
    onehot_straight_through,
    symexp,
    symlog,
    unimix_logits,
)
from mamba_edu.agents.dreamer.replay import Replay, wm_horizon
from mamba_edu.agents.dreamer.rssm import RSSM, kl_balance, kl_categorical
from mamba_edu.agents.dreamer.time_major import gather_time


def test_symlog_symexp_round_trip():
    x = torch.tensor([-1e4, -3.3, -1.0, 0.0, 0.5, 7.0, 1e5], dtype=torch.float64)
    assert torch.allclose(symexp(symlog(x)), x, rtol=1e-10)
    assert symlog(torch.tensor(np.e - 1)).item() == pytest.approx(1.0)


def test_twohot_round_trip_and_weights():
    logits = torch.zeros(255, dtype=torch.float64)
    dist = TwoHot(logits)
    targets = torch.tensor([-300.0, -1.0, 0.0, 0.37, 12.0, 1000.0], dtype=torch.float64)
    enc = dist.encode(targets)
    assert torch.allclose(enc.sum(-1), torch.ones(len(targets), dtype=torch.float64))
    assert ((enc > 0).sum(-1) <= 2).all()
    # the expected bin value of the two-hot encoding is exactly symlog(target)
    assert torch.allclose((enc * dist.bins).sum(-1), symlog(targets), atol=1e-9)
    # a distribution whose probabilities equal the encoding predicts the target back
    for target, weights in zip(targets, enc):
        pred = TwoHot(torch.log(weights + 1e-300)).mean()
        assert pred.item() == pytest.approx(target.item(), rel=1e-6, abs=1e-6)


def test_gumbel_max_samples_the_categorical():
    torch.manual_seed(0)
    logits = torch.log(torch.tensor([0.1, 0.2, 0.7]))
    samples = torch.stack([onehot_straight_through(logits).detach() for _ in range(20000)])
    assert torch.allclose(samples.mean(0), torch.tensor([0.1, 0.2, 0.7]), atol=0.015)


def test_unimix_and_straight_through():
    logits = torch.tensor([[10.0, -10.0, -10.0, -10.0]])
    probs = torch.softmax(unimix_logits(logits, 0.01), -1)
    assert probs.min().item() >= 0.01 / 4 - 1e-7
    logits = torch.randn(5, 3, requires_grad=True)
    sample = onehot_straight_through(logits)
    assert torch.allclose(sample.detach().sum(-1), torch.ones(5))
    (sample * torch.arange(3.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_lambda_returns_match_hand_computation():
    gamma, lam = 0.9, 0.5
    r = torch.tensor([0.0, 1.0, 2.0, 3.0])
    c = torch.tensor([1.0, 1.0, 0.5, 1.0])
    v = torch.tensor([0.1, 0.2, 0.3, 0.4])
    # hand computation backwards from R_3 = v_3
    R3 = 0.4
    R2 = 3.0 + gamma * 1.0 * ((1 - lam) * 0.4 + lam * R3)
    R1 = 2.0 + gamma * 0.5 * ((1 - lam) * 0.3 + lam * R2)
    R0 = 1.0 + gamma * 1.0 * ((1 - lam) * 0.2 + lam * R1)
    out = lambda_returns(r, c, v, gamma, lam)
    assert torch.allclose(out, torch.tensor([R0, R1, R2]), atol=1e-6)
    # λ = 0 is one-step TD, λ = 1 the discounted Monte-Carlo return bootstrapped at the end
    td = lambda_returns(r, c, v, gamma, 0.0)
    assert torch.allclose(td, r[1:] + gamma * c[1:] * v[1:])


def test_return_normalizer_scale():
    norm = ReturnNormalizer(decay=0.0)
    assert norm.update(torch.linspace(0, 0.5, 101)).item() == 1.0  # range < 1 -> scale 1
    assert norm.update(torch.linspace(0, 100, 101)).item() == pytest.approx(90.0, rel=1e-4)


def test_kl_balancing_and_free_bits():
    torch.manual_seed(0)
    post = torch.randn(7, 4, 5, requires_grad=True)
    prior = torch.randn(7, 4, 5, requires_grad=True)
    kl = kl_categorical(post, prior)
    assert (kl >= 0).all()
    loss, m = kl_balance(post, prior, dyn=0.5, rep=0.1, free_nats=0.0)
    assert torch.allclose(loss, 0.6 * kl)
    loss.sum().backward()
    # dyn term trains the prior with weight 0.5, rep term the posterior with weight 0.1
    post2, prior2 = post.detach().clone().requires_grad_(), prior.detach().clone().requires_grad_()
    kl_categorical(post2, prior2).sum().backward()
    assert torch.allclose(prior.grad, 0.5 * prior2.grad, atol=1e-6)
    assert torch.allclose(post.grad, 0.1 * post2.grad, atol=1e-6)
    # free bits: below the threshold the loss is constant and has no gradient
    same = torch.zeros(3, 4, 5, requires_grad=True)
    loss, _ = kl_balance(same, same.detach().clone().requires_grad_(), 0.5, 0.1, free_nats=1.0)
    assert torch.allclose(loss, torch.full((3,), 0.6))
    loss.sum().backward()
    assert same.grad.abs().sum() == 0


def test_rssm_shapes_and_observe_equals_stepwise():
    torch.manual_seed(0)
    rssm = RSSM(embed=6, action_dim=3, deter=16, hidden=8, stoch=4, classes=5)
    T, B = 9, 2
    embed, act = torch.randn(T, B, 6), torch.randn(T, B, 3)
    noise = gumbel_noise((T, B, 4, 5))
    post = rssm.observe(embed, act, noise=noise)
    assert post["deter"].shape == (T, B, 16) and post["stoch"].shape == (T, B, 4, 5)
    prev = rssm.initial(B)
    for t in range(T):  # the optimised loop equals plain obs_step calls, one step at a time from its own state
        state = rssm.obs_step(prev, act[t], embed[t], noise=noise[t])
        assert torch.allclose(state["deter"], post["deter"][t], atol=1e-5)
        assert torch.allclose(state["logits"], post["logits"][t], atol=1e-5)
        # the same sample, except where two classes tie within float rounding (the fused loop's matrix
        # products add in another order, which can flip such a tie on a busy machine)
        scores = (post["logits"][t] + noise[t]).sort(-1).values          # the Gumbel-max sample's scores
        clear = (scores[..., -1] - scores[..., -2]) > 1e-4
        # (compared as class indices: the straight-through value onehot + p − sg(p) is 1 or 0 only up to the
        # last bit of p, which another CPU's softmax kernel can round differently)
        assert torch.equal(state["stoch"].argmax(-1)[clear], post["stoch"][t].argmax(-1)[clear])
        assert clear.float().mean() > 0.9
        assert torch.allclose(state["stoch"][clear], post["stoch"][t][clear], atol=1e-6)
        prev = {k: v[t] for k, v in post.items()}


def test_wm_horizon_schedule():
    assert wm_horizon(0, 601, 50, 1000) == 50
    assert wm_horizon(500, 601, 50, 1000) == round(50 + 0.5 * 551)
    assert wm_horizon(1000, 601, 50, 1000) == 601
    assert wm_horizon(10**9, 601, 50, 1000) == 601
    assert wm_horizon(0, 601, 50, 0) == 601  # no schedule
    lengths = [wm_horizon(s, 601, 50, 1000) for s in range(0, 1200, 50)]
    assert lengths == sorted(lengths)


def _replay(n_eps=5, H1=31):
    rp = Replay(10_000, H1, {"obs": ((3,), np.float32)}, 2, seed=0)
    obs = np.zeros((n_eps, H1, 3), np.float32)
    obs[..., 0] = np.arange(H1)            # step index
    obs[..., 1] = np.arange(n_eps)[:, None]  # episode index
    rp.add({"obs": obs, "prev_action": np.zeros((n_eps, H1, 2), np.float32),
            "reward": np.zeros((n_eps, H1), np.float32), "terminal": np.zeros((n_eps, H1), np.float32)})
    return rp


def test_full_context_sampler_starts_at_zero_and_indices_in_range():
    rp = _replay()
    for prefix in (1, 7, 31, 100):
        seqs, idx = rp.sample_full_context(batch=6, n_indices=64, prefix=prefix)
        p = min(prefix, 31)
        assert seqs["obs"].shape == (6, p, 3)
        assert (seqs["obs"][:, :, 0] == np.arange(p)).all()  # every sequence starts at step 0
        assert idx.shape == (6, 64) and idx.min() >= 0 and idx.max() < p


def test_window_sampler_contiguous():
    rp = _replay()
    seqs = rp.sample_windows(batch=50, length=8)
    steps = seqs["obs"][:, :, 0]
    assert (np.diff(steps, axis=1) == 1).all()
    assert steps.min() >= 0 and steps.max() <= 30
    assert (seqs["obs"][:, :, 1] == seqs["obs"][:, :1, 1]).all()  # one episode per window
    assert steps[:, 0].max() > 0  # windows do not all start at 0


def test_samplers_given_picked_slots_draw_as_without():
    """The public way to know which meta-episodes a batch holds: draw them with ``pick`` and pass them in;
    the sampler then makes exactly the draws it makes on its own."""
    samplers = {"sample_windows": (6, 8), "sample_full_context": (6, 5, 20), "sample_prefix_windows": (6, 8, 20),
                "sample_burn_in_windows": (6, 8, 4, 4, 20)}
    for name, args in samplers.items():
        a, b = _replay(), _replay()
        out_a = getattr(a, name)(*args)
        slots = b.pick(args[0])
        out_b = getattr(b, name)(*args, slots=slots)
        if isinstance(out_a, tuple):
            seqs_a, seqs_b = out_a[0], out_b[0]
        else:
            seqs_a, seqs_b = out_a.get("seqs", out_a), out_b.get("seqs", out_b)
        assert all(np.array_equal(seqs_a[k], seqs_b[k]) for k in seqs_a), name
        if isinstance(out_a, tuple):
            assert np.array_equal(out_a[1], out_b[1]), name
        assert np.array_equal(seqs_b["obs"][:, 0, 1], slots), name         # obs[..., 1] is the episode index
        assert a.rng.bit_generator.state == b.rng.bit_generator.state, name
    with pytest.raises(RuntimeError, match="replay is empty"):
        Replay(100, 10, {"obs": ((3,), np.float32)}, 2).pick(4)


def test_gather_time_takes_a_step_per_column():
    x = torch.arange(12.0).view(4, 3)                     # x[t, b] = 3t + b
    idx = torch.tensor([[0, 3, 1], [2, 2, 0]])
    assert torch.equal(gather_time(x, idx), 3 * idx.float() + torch.arange(3.0))
    state = {"deter": torch.randn(5, 2, 4), "stoch": torch.randn(5, 2, 3, 6, requires_grad=True)}
    idx = torch.tensor([[4, 0], [4, 1]])
    out = gather_time(state, idx)
    assert out["deter"].shape == (2, 2, 4) and torch.equal(out["deter"][1, 1], state["deter"][1, 1])
    out["stoch"].sum().backward()                         # repeated indices add their gradients
    g = state["stoch"].grad
    assert g[4, 0].eq(2).all() and g[0, 1].eq(1).all() and g[0, 0].eq(0).all() and g[4, 1].eq(0).all()


def test_replay_fifo_and_state_round_trip():
    rp = Replay(31 * 3, 31, {"obs": ((3,), np.float32)}, 2, seed=0)
    src = _replay(n_eps=5)
    rp.add({k: v[:5] for k, v in src.data.items()})
    assert len(rp) == 3 and rp.episodes_added == 5
    assert sorted(rp.data["obs"][:, 0, 1].tolist()) == [2.0, 3.0, 4.0]  # oldest evicted
    clone = Replay(31 * 3, 31, {"obs": ((3,), np.float32)}, 2, seed=99)
    clone.load_state_dict(rp.state_dict())
    a, b = rp.sample_windows(4, 5), clone.sample_windows(4, 5)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_presets_stack_and_validate(monkeypatch):
    monkeypatch.delenv("MAMBA_EDU_QUICK", raising=False)
    tune = resolve_config("dreamer-tune", "Rooms-3")
    assert (tune.stoch, tune.classes, tune.hidden, tune.units, tune.deter) == (16, 16, 64, 128, 512)
    assert tune.imag_horizon == 2 and tune.train_ratio == 160 and not tune.full_context
    assert tune.wm_horizon_steps == 0  # the schedule is MAMBA's
    mamba = resolve_config("mamba", "Rooms-3")
    assert mamba.full_context and mamba.reward_in_obs and mamba.time_in_obs
    assert mamba.wm_horizon_steps == 2_500_000
    vanilla = resolve_config("dreamer-vanilla", "Reacher-1")
    assert (vanilla.stoch, vanilla.classes, vanilla.units) == (32, 32, 512)
    assert vanilla.imag_horizon == 10 and vanilla.actor_lr == 2e-4
    assert set(ALGO_PRESETS) == {"mamba", "dreamer-tune", "dreamer-vanilla"}
    cpu = resolve_config("mamba", "PointRobot", ["cpu", "stored-state"])
    long = resolve_config("mamba", "PointRobot", ["cpu", "stored-state", "long-imagination"])
    assert (long.imag_horizon, long.imag_starts) == (8, 16)    # stacked after cpu, it wins
    assert long.imag_horizon * long.imag_starts == cpu.imag_horizon * cpu.imag_starts   # same imagined states
    with pytest.raises(ValueError, match="unknown preset 'fast'.*valid"):
        resolve_config("mamba", "Rooms-3", ["fast"])
    with pytest.raises(ValueError, match="gamma must lie in"):
        resolve_config("mamba", "Rooms-3", overrides={"gamma": 1.5})
    with pytest.raises(ValueError, match="unknown config field 'bogus'"):
        resolve_config("mamba", "Rooms-3", overrides={"bogus": 1})
    with pytest.raises(ValueError, match="unknown environment"):
        resolve_config("mamba", "Rooms-11")
    assert DreamerConfig().validate().gamma == 0.997


def test_probe_rollout_latents_and_rooms_reward_map():
    import gymnasium as gym

    from mamba_edu.agents.dreamer.agent import DreamerAgent
    from mamba_edu.agents.dreamer.probe import rollout_with_latents, rooms_reward_map
    from mamba_edu.envs import make_batched

    cfg = resolve_config("mamba", "Rooms-1", ["quick"])
    env = make_batched("Rooms-1", 2, K=1, T=10)
    agent = DreamerAgent(cfg, env.single_observation_space, env.single_action_space, env.H)
    ro, latents = rollout_with_latents(agent, env, seed=0)
    assert latents["deter"].shape == (10, 2, cfg.deter) and ro.actions.shape == (10, 2)
    layout = env.proto.layout
    state = {k: v[3, :1] for k, v in latents.items()}
    grid = rooms_reward_map(agent, state, layout, from_cell=layout.start)
    assert grid.shape == (3, 3) and np.isfinite(grid).all()


class PointModel(torch.nn.Module):
    """A stand-in world model for the actor's gradient: state = 2-D position, position += 0.3 · action,
    zero reward; continue 1, or ``cont_of(features)``."""

    def __init__(self, cont_of=None):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.rssm = self
        self.actions = []
        self.cont_of = cont_of

    def imagine(self, start, policy, horizon):
        states, pos = [start["pos"]], start["pos"]
        for _ in range(horizon):
            a = policy(pos)
            self.actions.append(a)
            pos = pos + 0.3 * a
            states.append(pos)
        return {"pos": torch.stack(states)}, torch.stack(self.actions)

    @staticmethod
    def features(states):
        return states["pos"]

    def reward(self, feats):
        return torch.zeros(feats.shape[:-1])

    def cont(self, feats):
        return torch.ones(feats.shape[:-1]) if self.cont_of is None else self.cont_of(feats)


def test_dynamics_actor_gradient_flows_through_returns_not_baseline():
    """Backprop-through-the-model actor: d(loss)/d(action) ∝ −d(Σ λ-returns)/d(action).

    A stand-in world model (state = 2-D position, position += action, zero reward, no
    termination) and a critic replaced by a bowl around a goal make the check exact. A
    differentiable baseline −v_t would add a term pushing intermediate states towards low value.
    """
    from mamba_edu.agents.dreamer.actor_critic import ActorCritic

    torch.manual_seed(0)
    cfg = resolve_config("dreamer-tune", "PointRobot", ["cpu"], {"entropy": 0.0, "imag_horizon": 5})
    goal = torch.tensor([0.0, 1.0])

    ac = ActorCritic(cfg, feat_dim=2, action_dim=2, discrete=False)
    assert ac.actor_grad == "dynamics"
    ac.value = lambda feat, slow=False: -((feat - goal) ** 2).sum(-1)
    wm = PointModel()
    start = {"pos": torch.randn(64, 2) * 0.5}
    actor_loss, _, _ = ac.losses(wm, start)
    got = torch.autograd.grad(actor_loss, wm.actions, retain_graph=True)
    # reference: the same imagined trajectory's λ-returns, differentiated directly
    positions = [start["pos"]]
    for a in wm.actions:
        positions.append(positions[-1] + 0.3 * a)
    feats = torch.stack(positions)
    values = ac.value(feats)
    zeros = torch.zeros(values.shape)
    returns = lambda_returns(zeros, torch.ones(values.shape), values, cfg.gamma, cfg.lam)
    want = torch.autograd.grad(-returns.mean(), wm.actions)
    g, w = torch.cat([x.flatten() for x in got]), torch.cat([x.flatten() for x in want])
    cosine = torch.dot(g, w) / (g.norm() * w.norm())
    assert cosine.item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("authors", [False, True])
def test_authors_baseline_gradient_and_discounted_imagination_weights(authors):
    """Dynamics-gradient actor with 4 imagined steps on a stand-in model (position += action, a bowl critic,
    state-dependent continue). Ours: weights ∏ ĉ on arrival, baseline a stop-gradient. The authors' code
    (``paper``): weights ∏ γ·ĉ over the states before t (the start's included) and a differentiable baseline."""
    from mamba_edu.agents.dreamer.actor_critic import ActorCritic, lambda_returns

    torch.manual_seed(0)
    cfg = resolve_config("dreamer-tune", "PointRobot", ["cpu"], {"entropy": 0.0, "imag_horizon": 4,
                                                                  "baseline_grad": authors,
                                                                  "imag_weights_discounted": authors})
    goal = torch.tensor([0.0, 1.0])

    ac = ActorCritic(cfg, feat_dim=2, action_dim=2, discrete=False)
    ac.value = lambda feat, slow=False: -((feat - goal) ** 2).sum(-1)
    wm = PointModel(cont_of=lambda f: 0.95 - 0.2 * torch.tanh(f[..., 0]) ** 2)
    start = {"pos": torch.randn(64, 2) * 0.5}
    actor_loss, _, _ = ac.losses(wm, start)
    got = torch.autograd.grad(actor_loss, wm.actions, retain_graph=True)
    scale = ac.retnorm.scale()

    positions = [start["pos"]]
    for a in wm.actions:
        positions.append(positions[-1] + 0.3 * a)
    feats = torch.stack(positions)
    values = ac.value(feats)
    conts = torch.cat([torch.ones_like(values[:1]), wm.cont(feats[1:])])
    returns = lambda_returns(torch.zeros(values.shape), conts, values, cfg.gamma, cfg.lam)
    c = wm.cont(feats).detach()
    refs = {
        False: -(torch.cumprod(conts.detach(), 0)[:-1] * (returns - values[:-1].detach()) / scale).mean(),
        True: -(torch.cumprod(torch.cat([torch.ones_like(c[:1]), cfg.gamma * c[:-2]]), 0)
                * (returns - values[:-1]) / scale).mean(),
    }
    assert actor_loss.item() == pytest.approx(refs[authors].item(), rel=1e-5)
    want = {k: torch.cat([x.flatten() for x in torch.autograd.grad(v, wm.actions, retain_graph=True)])
            for k, v in refs.items()}
    g = torch.cat([x.flatten() for x in got])
    assert torch.allclose(g, want[authors], atol=1e-7, rtol=1e-4)
    assert not torch.allclose(g, want[not authors], atol=1e-7, rtol=1e-3)


@pytest.mark.parametrize("detached", [False, True])
def test_std_head_detached_keeps_entropy_off_the_mean(detached):
    """With ``std_head_detached`` the policy is the same function of the same parameters, but the
    entropy bonus's gradient reaches only the std's rows of the output layer; with the shared head
    (DreamerV3) it also reaches the hidden layers, which is what drifts the mean."""
    from mamba_edu.agents.dreamer.actor_critic import ActorCritic

    torch.manual_seed(0)
    cfg = resolve_config("mamba", "PointRobot", ["cpu"], {"std_head_detached": detached})
    ac = ActorCritic(cfg, feat_dim=12, action_dim=2, discrete=False)
    feat = torch.randn(64, 12)
    dist = ac.policy(feat)
    with torch.no_grad():  # same function as the shared head
        mean_raw, std_raw = ac.actor(feat).chunk(2, -1)
        ref = BoundedNormal(mean_raw, std_raw)
    assert torch.allclose(dist.mean, ref.mean, atol=1e-6) and torch.allclose(dist.std, ref.std, atol=1e-6)

    ac.actor.zero_grad()
    dist.entropy().mean().backward()
    out = ac.actor[-1]
    hidden_grad = sum(float(p.grad.abs().sum()) for p in ac.actor[:-1].parameters() if p.grad is not None)
    assert float(out.weight.grad[:2].abs().sum()) == 0.0  # the mean's rows never see the entropy
    assert float(out.weight.grad[2:].abs().sum()) > 0.0  # the std's rows do
    if detached:
        assert hidden_grad == 0.0
    else:
        assert hidden_grad > 0.0

    ac.actor.zero_grad()  # the mean still trains the hidden layers in both modes
    ac.policy(feat).mean.sum().backward()
    assert sum(float(p.grad.abs().sum()) for p in ac.actor[:-1].parameters() if p.grad is not None) > 0.0


@pytest.mark.parametrize("env_id", ["Rooms-1", "PointRobot"])
def test_actor_critic_losses_reach_only_their_own_parameters(env_id):
    """``ActorCritic.losses`` shares work between the actor's and the critic's terms (one critic pass
    when the imagined features carry no graph, heads run on imagined states only). Whatever way a
    caller backpropagates — even a plain ``backward()`` — the critic's loss must train only the
    critic, and neither loss may touch the world model. Discrete (REINFORCE) and continuous
    (dynamics backpropagation) actions."""
    from mamba_edu.agents.dreamer.agent import DreamerAgent
    from mamba_edu.envs import make_batched

    torch.manual_seed(0)
    cfg = resolve_config("mamba", env_id, ["quick"])
    env = make_batched(env_id, 2)
    agent = DreamerAgent(cfg, env.single_observation_space, env.single_action_space, env.H)
    with torch.no_grad():  # zero-initialised output layers would pass no gradient at all
        for head in (agent.ac.critic, agent.ac.slow_critic, agent.wm.reward_head):
            head[-1].weight.normal_(0.0, 0.1)
    start = agent.wm.rssm.initial(32)
    start = {k: v + 0.1 * torch.randn_like(v) for k, v in start.items()}
    actor_loss, critic_loss, _ = agent.ac.losses(agent.wm, start)
    assert agent.ac.actor_grad == ("reinforce" if env_id == "Rooms-1" else "dynamics")

    def grads(module):
        return [p.grad for p in module.parameters() if p.grad is not None and p.grad.abs().sum() > 0]

    critic_loss.backward(retain_graph=True)
    assert grads(agent.ac.critic), "the critic's loss must train the critic"
    assert not grads(agent.ac.actor) and not grads(agent.wm)
    agent.ac.zero_grad(set_to_none=True)
    actor_loss.backward()
    assert grads(agent.ac.actor)
    assert not grads(agent.wm)
    assert not grads(agent.ac.slow_critic)
