"""Registry-wide checks on every ``mamba_edu/*`` id (Minigrid-style suite; issue #2 item 6).

Long-horizon MuJoCo families are run with short K/T overrides so the whole suite stays fast;
the family-specific tests check their full sizes.
"""
import importlib.util
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mamba_edu.envs as envs
from mamba_edu.envs import ENV_IDS, make, make_batched, resolve_env_id

SHORT = {"Reacher": dict(K=2, T=20), "ReacherPixels": dict(K=2, T=5), "HumanoidDir": dict(K=2, T=20)}


def _kwargs(env_id):
    name = env_id.split("/")[1][:-3]
    for prefix, kw in SHORT.items():
        if name.startswith(prefix):
            return kw
    return {}


def _make(env_id, **extra):
    if env_id.endswith("PandaReacher-v0") and importlib.util.find_spec("panda_gym") is None:
        pytest.skip("PandaReacher needs the [panda] extra (pip install -e .[panda]); panda_gym is not installed")
    try:
        return gym.make(env_id, **_kwargs(env_id), **extra)
    except ImportError as e:  # an optional dependency (e.g. a GL backend for pixels) is missing
        pytest.skip(f"{env_id}: {e}")


def _rollout(env, seed, steps):
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [obs]
    rewards = []
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        out.append(obs)
        rewards.append(r)
        if term or trunc:
            break
    return out, rewards, info


def _eq(a, b):
    if isinstance(a, dict):
        return all(np.array_equal(a[k], b[k]) for k in a)
    return np.array_equal(a, b)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_checker(env_id):
    env = _make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    check_env(env, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_task_api_and_determinism(env_id):
    env = _make(env_id)
    base = env.unwrapped
    t1, t2 = base.sample_tasks(3, seed=7), base.sample_tasks(3, seed=7)
    assert len(t1) == 3 and all(_eq(a, b) for a, b in zip(t1, t2))
    obs, info = env.reset(seed=3, options={"task": t1[1]})
    assert _eq(info["task"], t1[1]) and info["sub_episode"] == 0
    a = _rollout(env, 11, 40)
    b = _rollout(env, 11, 40)
    assert all(_eq(x, y) for x, y in zip(a[0], b[0])) and a[1] == b[1]
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_meta_episode_length_and_boundaries(env_id):
    env = _make(env_id)
    K, T = env.get_wrapper_attr("K"), env.get_wrapper_attr("T")
    obs, info = env.reset(seed=0)
    env.action_space.seed(0)
    task = info["task"]
    steps, subs = 0, [0]
    done = False
    while not done:
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        steps += 1
        subs.append(info["sub_episode"])
        assert _eq(info["task"], task)
        done = term or trunc
    # every sub-episode is played (an early fall skips to the next one); only the last one ends it
    assert steps <= K * T and info["sub_episode"] == K - 1 and (term or trunc)
    assert subs == sorted(subs) and set(subs) == set(range(K))
    if trunc:
        assert info["boundary"]
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(env.action_space.sample())
    env.close()


#: physics engines whose restored state matches to solver precision rather than bit for bit
APPROX: tuple[str, ...] = ()
#: families that cannot be pickled, with the reason their error must give
NOT_PICKLABLE = {"PandaReacher": "PyBullet client"}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_pickle_round_trip(env_id):
    env = _make(env_id)
    env.reset(seed=5)
    for _ in range(3):
        env.step(env.action_space.sample())
    name = env_id.split("/")[1][:-3]
    if name in NOT_PICKLABLE:
        with pytest.raises(TypeError, match=NOT_PICKLABLE[name]):
            pickle.dumps(env)
        return
    clone = pickle.loads(pickle.dumps(env))
    action = env.action_space.sample()
    o1, r1, *_ = env.step(action)
    o2, r2, *_ = clone.step(action)
    if name in APPROX:
        assert np.allclose(o1, o2, rtol=1e-5, atol=1e-6) and r1 == pytest.approx(r2, rel=1e-5)
    else:
        assert _eq(o1, o2) and r1 == r2
    env.close()


@pytest.mark.parametrize("env_id", [i for i in ENV_IDS if "Pixels" not in i and "Panda" not in i])
def test_gymnasium_vector_api(env_id):
    kw = _kwargs(env_id)
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="sync", **kw)
    obs, info = vec.reset(seed=[1, 2])
    assert obs.shape[0] == 2
    for _ in range(5):
        obs, r, term, trunc, info = vec.step(vec.action_space.sample())
    assert r.shape == (2,)
    vec.close()


@pytest.mark.parametrize("name", ["MetaBandit", "Reacher-1"])
def test_vector_meta_env_matches_single(name):
    kw = _kwargs(resolve_env_id(name))
    batched = make_batched(name, 3, native=False, **kw)
    obs_b, info_b = batched.reset(seed=[4, 5, 6])
    singles = [make(name, **kw) for _ in range(3)]
    obs_s = [e.reset(seed=s)[0] for e, s in zip(singles, [4, 5, 6])]
    assert np.allclose(obs_b, np.stack(obs_s))
    rng = np.random.default_rng(0)
    for _ in range(10):
        acts = np.stack([batched.single_action_space.sample() for _ in range(3)])
        ob, rb, *_ = batched.step(acts)
        for i, e in enumerate(singles):
            o, r, *_ = e.step(acts[i])
            assert np.allclose(o, ob[i]) and r == rb[i]


def test_augmentation_switches():
    env = make("MetaBandit")
    assert env.observation_space.shape == (3,)
    obs, _ = env.reset(seed=0, options={"task": 1})
    assert obs.tolist() == [1.0, 0.0, 0.0]
    obs, r, *_ = env.step(1)
    assert r == 1.0 and obs[1] == 1.0 and obs[2] == pytest.approx(1 / 20)
    plain = make("MetaBandit", reward_in_obs=False, time_in_obs=False)
    assert plain.observation_space.shape == (1,)
    only_time = make("MetaBandit", reward_in_obs=False)
    assert only_time.observation_space.shape == (2,)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="unknown environment 'Nope'.*valid: PointRobot"):
        make("Nope")
    with pytest.raises(ValueError, match="N = 1..8"):
        resolve_env_id("Rooms-9")
    with pytest.raises(gym.error.Error):
        gym.make("mamba_edu/Rooms-0-v0")
    env = make("MetaBandit")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(5)
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"tsk": 0})
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        env.unwrapped.sample_tasks(-1)
    assert resolve_env_id("mamba_edu/Rooms-3-v0") == resolve_env_id("Rooms-3") == "mamba_edu/Rooms-3-v0"
    assert len(envs.ENV_IDS) == len(set(envs.ENV_IDS))
