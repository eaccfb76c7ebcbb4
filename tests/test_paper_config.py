"""The `paper` preset: the authors' model, schedule and evaluation protocol (docs/mamba.md, parity table)."""
import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from mamba_edu.agents.dreamer.agent import DreamerAgent
from mamba_edu.agents.dreamer.config import DreamerConfig, config_from_dict, resolve_config
from mamba_edu.agents.dreamer.learner import DreamerLearner


def mlp_params(inp: int, units: int, layers: int, out: int | None = None) -> int:
    """Linear (no bias) + LayerNorm per hidden layer, then a linear output layer with bias."""
    n = inp * units + 2 * units + (layers - 1) * (units * units + 2 * units)
    return n + (units * out + out if out else 0)


def rssm_params(embed: int, action: int, deter: int, hidden: int, stoch: int, classes: int) -> int:
    zc = stoch * classes
    gru_input = zc * hidden + action * hidden + 2 * hidden                # [z, a] -> hidden, LayerNorm
    gru = (hidden + deter) * 3 * deter + 2 * 3 * deter                     # one linear, LayerNorm(3·deter)
    prior = deter * hidden + 2 * hidden + hidden * zc + zc
    posterior = deter * hidden + embed * hidden + 2 * hidden + hidden * zc + zc
    return gru_input + gru + prior + posterior + deter                     # + learned initial state


def test_paper_preset_parameter_counts_per_module_on_point_robot():
    """PointRobot: obs (x, y, previous reward, t/H) = 4, action 2; deter 512, hidden 64, 16 × 16 latents,
    heads 2 × 128, encoder/decoder 4 × 512 (the authors' halfcircle configuration)."""
    with_quick_off = pytest.MonkeyPatch()
    with_quick_off.delenv("MAMBA_EDU_QUICK", raising=False)
    try:
        cfg = resolve_config("mamba", "PointRobot", ["paper"], {"device": "cpu"})
    finally:
        with_quick_off.undo()
    agent = DreamerAgent(cfg, gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
                         gym.spaces.Box(-1, 1, (2,), np.float32), 300)
    feat = 512 + 16 * 16

    def count(module):
        return sum(p.numel() for p in module.parameters())

    expected = {
        "encoder": mlp_params(4, 512, 4),
        "rssm": rssm_params(512, 2, 512, 64, 16, 16),
        "decoder": mlp_params(feat, 512, 4, 4),
        "reward": mlp_params(feat, 128, 2, 255),
        "cont": mlp_params(feat, 128, 2, 1),
        "actor": mlp_params(feat, 128, 2, 4),
        "critic": mlp_params(feat, 128, 2, 255),
    }
    got = {"encoder": count(agent.wm.encoder), "rssm": count(agent.wm.rssm), "decoder": count(agent.wm.vec_decoder),
           "reward": count(agent.wm.reward_head), "cont": count(agent.wm.cont_head),
           "actor": count(agent.ac.actor), "critic": count(agent.ac.critic)}
    assert got == expected
    assert got == {"encoder": 792_576, "rssm": 1_036_800, "decoder": 1_185_796, "reward": 148_095, "cont": 115_329,
                   "actor": 115_716, "critic": 148_095}
    assert count(agent.wm) == 3_278_596


def test_paper_preset_schedule_and_protocol(monkeypatch):
    monkeypatch.delenv("MAMBA_EDU_QUICK", raising=False)
    pr = resolve_config("mamba", "PointRobot", ["paper"])
    assert pr.updates_per_step == pytest.approx(0.01 / 3)      # their train_ratio / K: 1 update per 300 steps
    assert pr.update_after_collection and pr.kl_all_steps and pr.eval_greedy and not pr.std_head_detached
    assert (pr.num_envs, pr.imag_horizon, pr.imag_starts, pr.seq_len, pr.batch_size) == (10, 1, 512, 64, 16)
    assert (pr.eval_every, pr.eval_tasks, pr.final_tasks, pr.prefill) == (60_000, 20, 1000, 3000)
    assert (pr.enc_units, pr.enc_layers, pr.units, pr.layers) == (512, 4, 128, 2)
    assert (pr.norm_eps, pr.weight_init, pr.retnorm_from_zero) == (1e-3, "dreamerv3", True)
    wind = resolve_config("mamba", "PointRobotWind", ["paper"])
    assert wind.imag_horizon == 9 and wind.updates_per_step == pytest.approx(0.2 / 3)
    assert resolve_config("mamba", "PointRobotWind").imag_horizon == 10
    er = resolve_config("mamba", "EscapeRoom", ["paper"])
    assert er.imag_horizon == 9 and er.updates_per_step == pytest.approx(0.1) and er.eval_every == 24_000
    tune = resolve_config("dreamer-tune", "PointRobot", ["paper"])
    assert not tune.full_context and tune.updates_per_step == pr.updates_per_step
    with pytest.raises(ValueError, match="preset paper: .*not transcribed for Reacher-1.*valid envs: PointRobot"):
        resolve_config("mamba", "Reacher-1", ["paper"])


def test_configs_saved_before_the_new_fields_rebuild_their_run():
    """A config.json written before these fields existed keeps its run's behaviour: the encoder has the
    heads' width and depth, sampled evaluation, KL at the sampled indices, PyTorch's init."""
    from mamba_edu.agents.dreamer.world_model import WorldModel

    old = {k: v for k, v in vars(DreamerConfig()).items()
           if k not in ("enc_units", "enc_layers", "updates_per_step", "update_after_collection", "kl_all_steps",
                        "eval_greedy", "norm_eps", "weight_init", "retnorm_from_zero", "precision",
                        "initial_latent_grad", "imag_weights_discounted", "baseline_grad")}
    old.update(units=64, layers=3)
    cfg = config_from_dict(old)
    assert (cfg.eval_greedy, cfg.kl_all_steps, cfg.updates_per_step, cfg.update_after_collection) == (False, False, 0, False)
    assert (cfg.norm_eps, cfg.weight_init, cfg.retnorm_from_zero, cfg.precision) == (1e-5, "torch", False, "fp32")
    assert (cfg.initial_latent_grad, cfg.imag_weights_discounted, cfg.baseline_grad) == ("probs", False, False)
    wm = WorldModel(cfg, 4, 2)
    assert wm.encoder.out_dim == 64 and len([m for m in wm.encoder.mlp if isinstance(m, torch.nn.Linear)]) == 3


def test_defaults_are_ours_and_paper_is_the_authors(monkeypatch):
    """Without `paper` the encoder follows the heads and the numerics are ours (the earlier runs); the
    evaluation takes the mode either way."""
    monkeypatch.delenv("MAMBA_EDU_QUICK", raising=False)
    ours = resolve_config("mamba", "PointRobot", ["cpu"])
    assert (ours.enc_units, ours.enc_layers, ours.kl_all_steps, ours.weight_init, ours.eval_greedy) == (0, 0, False, "torch", True)
    stacked = resolve_config("mamba", "PointRobot", ["paper", "cpu"])   # cpu shrinks paper's encoder too
    assert (stacked.enc_units, stacked.enc_layers, stacked.kl_all_steps, stacked.num_envs) == (0, 0, True, 10)


def small_learner(**over) -> DreamerLearner:
    cfg = resolve_config("mamba", "PointRobot", ["quick"], {"device": "cpu", **over})
    return DreamerLearner(cfg, gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
                          gym.spaces.Box(-1, 1, (2,), np.float32), 30)


def collect_batch(learner: DreamerLearner, env_steps: int, n: int = 2) -> int:
    rng = np.random.default_rng(env_steps)
    learner.begin(rng.normal(size=(n, 4)).astype(np.float32), n)
    for _ in range(30):
        actions = learner.act(rng.normal(size=(n, 4)).astype(np.float32), env_steps)
        env_steps += n
        learner.observe(actions, rng.random(n), rng.normal(size=(n, 4)).astype(np.float32), np.zeros(n))
        learner.update(env_steps)
    learner.end()
    learner.update(env_steps)
    return env_steps


def test_updates_per_step_after_each_collection():
    learner = small_learner(updates_per_step=0.05, update_after_collection=True, prefill=0)
    steps = 0
    seen = []
    for _ in range(3):
        before = learner.agent.updates
        steps = collect_batch(learner, steps)
        seen.append(learner.agent.updates - before)
        assert learner.agent.updates == learner.agent.updates_due(steps) == int(steps * 0.05) + 1
    assert seen[0] == 4 and seen[1:] == [3, 3]             # 60 steps per batch at 1/20: ~3 per batch
    # interleaved (default): the same count, but reached during the batch
    inter = small_learner(updates_per_step=0.05, prefill=0)
    collect_batch(inter, 0)
    assert inter.agent.updates == int(60 * 0.05) + 1


def test_no_updates_inside_a_batch_with_update_after_collection():
    learner = small_learner(updates_per_step=0.5, update_after_collection=True, prefill=0)
    rng = np.random.default_rng(0)
    learner.begin(rng.normal(size=(2, 4)).astype(np.float32), 2)
    for t in range(30):
        actions = learner.act(rng.normal(size=(2, 4)).astype(np.float32), 2 * t)
        learner.observe(actions, rng.random(2), rng.normal(size=(2, 4)).astype(np.float32), np.zeros(2))
        assert learner.update(2 * (t + 1)) is None and learner.agent.updates == 0
    learner.end()
    assert learner.update(60) is not None and learner.agent.updates == 31


def test_greedy_evaluation_does_not_leak_into_training():
    """With eval_greedy the evaluation policy takes the mode; training keeps sampling afterwards."""
    learner = small_learner(eval_greedy=True)
    agent = learner.agent
    obs = np.zeros((3, 4), np.float32)

    def mode_now():
        with torch.no_grad():
            return agent.ac.policy(agent.wm.rssm.features(agent.state)).mode().numpy()

    policy = learner.eval_policy()
    policy.reset(3)
    np.testing.assert_allclose(policy.act(obs), mode_now(), rtol=0, atol=1e-6)
    assert agent.greedy is False
    agent.reset(3)
    sampled = agent.act(obs)
    assert np.abs(sampled - mode_now()).max() > 1e-3        # training acts by sampling


def test_kl_covers_every_unrolled_step_with_kl_all_steps():
    from mamba_edu.agents.dreamer.rssm import kl_categorical

    torch.manual_seed(0)
    wm = small_learner().agent.wm
    T, B = 20, 3
    batch = {"obs": torch.randn(T, B, 4), "prev_action": torch.rand(T, B, 2) * 2 - 1, "reward": torch.randn(T, B),
             "terminal": torch.zeros(T, B)}
    idx = torch.randint(0, T, (5, B))
    cols = torch.arange(B).expand_as(idx)
    for all_steps in (True, False):
        wm.cfg.kl_all_steps = all_steps
        _, post, metrics = wm.loss(batch, idx)
        kl = kl_categorical(post["logits"], wm.rssm.prior_logits(post["deter"])).detach()
        torch.testing.assert_close(metrics["wm/kl"], kl.mean() if all_steps else kl[idx, cols].mean())


def test_evaluate_with_mode_or_sampled_actions(capsys):
    """`evaluate --actions` picks the policy's mode or samples; the default follows the run (old runs: sample)."""
    from mamba_edu.cli import main
    from mamba_edu.pretrained import pretrained_run

    run = str(pretrained_run("metabandit_mamba"))
    got = {}
    for actions in ("run", "mode", "sample"):
        assert main(["evaluate", "--run", run, "--tasks", "20", "--actions", actions]) == 0
        got[actions] = json.loads(capsys.readouterr().out)
    assert got["run"]["actions"] == "sample" and got["mode"]["actions"] == "mode"
    assert got["run"]["return_mean"] == got["sample"]["return_mean"]
    assert got["mode"]["return_mean"] != got["sample"]["return_mean"]


def test_bf16_autocast_update_stays_close_to_fp32():
    """precision='bf16' runs the update's forward passes in bfloat16: same losses to a few percent, weights
    and optimiser in float32."""
    losses = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        learner = small_learner(precision=precision, prefill=0)
        collect_batch(learner, 0)
        m = learner.agent.train_step(learner.replay, 10**6)
        losses[precision] = m["losses/world_model"]
        assert all(p.dtype == torch.float32 for p in learner.agent.wm.parameters())
    assert np.isfinite(losses["bf16"]) and losses["bf16"] == pytest.approx(losses["fp32"], rel=0.05)
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, fp16"):
        resolve_config("mamba", "PointRobot", ["quick"], {"precision": "fp8"})


@pytest.mark.parametrize("name", ["metabandit_mamba", "rooms3_varibad"])
def test_export_run_keeps_weights_and_drops_optimiser_states(tmp_path, name):
    """A shipped run holds weights only and evaluates exactly like its source."""
    from mamba_edu.pretrained import pretrained_run
    from mamba_edu.training import checkpoint
    from mamba_edu.training.loop import final_test
    from mamba_edu.training.run_dir import export_run

    src = pretrained_run(name)
    size = export_run(src, tmp_path / "shipped")
    assert size < (src / "checkpoints" / "best.pt").stat().st_size
    learner = checkpoint.load(tmp_path / "shipped" / "checkpoints" / "best.pt")["learner"]
    assert "optim" not in learner and not {"wm_opt", "actor_opt", "critic_opt"} & set(learner["agent"])
    a = final_test(src, n_tasks=20, write=False)
    b = final_test(tmp_path / "shipped", n_tasks=20, write=False)
    assert a["return_mean"] == b["return_mean"]


def test_reward_recall_metrics_of_the_world_model_loss():
    """The loss reports the reward head's mean prediction where the real reward is nonzero and elsewhere
    (a sparse-reward diagnostic), computed from the same logits as the reward loss."""
    from mamba_edu.agents.dreamer.distributions import TwoHot
    from mamba_edu.agents.dreamer.time_major import gather_time
    from mamba_edu.agents.dreamer.world_model import reward_recall, zero_noise

    got = reward_recall(torch.tensor([0.5, 0.1, 0.3, 0.0]), torch.tensor([1.0, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(got["wm/rewarded_frac"], torch.tensor(0.25))
    torch.testing.assert_close(got["wm/reward_pred_rewarded"], torch.tensor(0.5))
    torch.testing.assert_close(got["wm/reward_pred_other"], torch.tensor(0.4 / 3))
    none = reward_recall(torch.tensor([0.2, 0.4]), torch.zeros(2))      # no rewarded step: 0, not NaN
    assert float(none["wm/reward_pred_rewarded"]) == 0.0 and float(none["wm/rewarded_frac"]) == 0.0

    torch.manual_seed(0)
    wm = small_learner().agent.wm
    T, B = 20, 3
    reward = torch.zeros(T, B)
    reward[[3, 7, 11], [0, 1, 2]] = 0.8
    batch = {"obs": torch.randn(T, B, 4), "prev_action": torch.rand(T, B, 2) * 2 - 1, "reward": reward,
             "terminal": torch.zeros(T, B)}
    idx = torch.tensor([[3, 7, 11], [0, 1, 2], [5, 5, 5]])
    _, post, metrics = wm.loss(batch, idx, noise=zero_noise)
    pred = TwoHot(wm.reward_head(wm.rssm.features(gather_time(post, idx)))).mean().detach()
    hit = gather_time(reward, idx) != 0
    assert float(metrics["wm/rewarded_frac"]) == pytest.approx(3 / 9)
    torch.testing.assert_close(metrics["wm/reward_pred_rewarded"], pred[hit].mean())
    torch.testing.assert_close(metrics["wm/reward_pred_other"], pred[~hit].mean())


def test_paper_init_of_the_split_rssm_layers_is_the_unsplit_layers(monkeypatch):
    """The RSSM's input and posterior layers are split in two here (Linear([z, a]), Linear([h, e])) and whole in
    the authors' code: under ``weight_init="dreamerv3"`` each part gets the whole layer's std 1/√fan_avg with the
    summed fan-in; the latent logits layers are truncated-normal (not uniform) as their stat layers are."""
    monkeypatch.delenv("MAMBA_EDU_QUICK", raising=False)      # the paper sizes, also under the quick test run
    torch.manual_seed(0)
    cfg = resolve_config("mamba", "PointRobot", ["paper"], {"device": "cpu"})
    rssm = DreamerAgent(cfg, gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
                        gym.spaces.Box(-1, 1, (2,), np.float32), 300).wm.rssm
    gru_in_fan_avg = (16 * 16 + 2 + 64) / 2                 # Linear(258 → 64)
    post_fan_avg = (512 + 512 + 64) / 2                     # Linear(deter 512 + embed 512 → 64)
    for layer, fan, tol in ((rssm.img_in_z, gru_in_fan_avg, 0.05), (rssm.img_in_a, gru_in_fan_avg, 0.25),
                            (rssm.post_h, post_fan_avg, 0.05), (rssm.post_e, post_fan_avg, 0.05)):
        assert float(layer.weight.std()) == pytest.approx(fan ** -0.5, rel=tol)
    for layer in (rssm.post_out, rssm.prior_net[-1]):
        fan_avg = (64 + 256) / 2
        uniform_limit = (3 / fan_avg) ** 0.5
        assert float(layer.weight.abs().max()) > 1.1 * uniform_limit       # tails beyond any uniform init
        assert float(layer.weight.std()) == pytest.approx(fan_avg ** -0.5, rel=0.05)


@pytest.mark.parametrize("grad_path", ["probs", "logits"])
def test_initial_latent_straight_through_path(grad_path):
    """The learned initial latent is the prior's mode either way; its gradient reaches the initial state
    through the probabilities (ours) or the unimixed logits (the authors' ``OneHotDist.mode``, ``paper``)."""
    from mamba_edu.agents.dreamer.rssm import RSSM

    torch.manual_seed(0)
    rssm = RSSM(8, 2, 16, 8, 4, 5, 0.01, initial_latent_grad=grad_path)
    with torch.no_grad():
        rssm.init_deter.normal_()
    g = torch.randn(3, 4, 5)
    state = rssm.initial(3)
    got = torch.autograd.grad((state["stoch"] * g).sum(), rssm.init_deter)[0]
    logits = rssm._logits(rssm.prior_net(torch.tanh(rssm.init_deter).expand(3, -1)))
    through = {"probs": torch.softmax(logits, -1), "logits": logits}
    want = {k: torch.autograd.grad((v * g).sum(), rssm.init_deter, retain_graph=True)[0] for k, v in through.items()}
    assert torch.equal(state["stoch"], torch.nn.functional.one_hot(logits.argmax(-1), 5).float())
    assert torch.allclose(got, want[grad_path], atol=1e-6)
    other = "probs" if grad_path == "logits" else "logits"
    assert not torch.allclose(got, want[other], atol=1e-4)
    assert resolve_config("mamba", "PointRobot", ["paper"]).initial_latent_grad == "logits"
    assert resolve_config("mamba", "PointRobot", ["cpu"]).initial_latent_grad == "probs"
