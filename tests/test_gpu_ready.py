"""The Dreamer/MAMBA update is ready for a GPU: compiled steps give the eager update's numbers, mixed
precision stays close to fp32, an update reads one value on the host, and no tensor is made on a fixed
device. Runs on the CPU; ``MAMBA_EDU_DEVICE=cuda`` runs the same tests on a GPU (``scripts/gpu_check.sh``)."""
import ast
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from mamba_edu.agents.dreamer.agent import DreamerAgent
from mamba_edu.agents.dreamer.config import DreamerConfig, resolve_config
from mamba_edu.agents.dreamer.replay import Replay
from mamba_edu.agents.dreamer.rssm import posterior_step, prior_step
from mamba_edu.agents.dreamer.update_metrics import UpdateMetrics
from mamba_edu.training.errors import NonFiniteError

# importing inductor imports torch.utils.mkldnn, whose TorchScript classes warn on import (torch's own code)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
ROOT = Path(__file__).resolve().parents[1]
DEVICE = os.environ.get("MAMBA_EDU_DEVICE", "cpu")
if DEVICE == "cuda" and not torch.cuda.is_available():
    pytest.skip("MAMBA_EDU_DEVICE=cuda but CUDA is not available", allow_module_level=True)
H = 63
LOSSES = ("losses/world_model", "losses/actor", "losses/critic", "grad/world_model", "grad/actor", "grad/critic")


def make(algo: str = "mamba", **over):
    """A tiny agent on ``DEVICE`` and a replay of 8 random PointRobot-sized meta-episodes."""
    torch.manual_seed(0)
    cfg = resolve_config(algo, "PointRobot", ["quick"], {"device": DEVICE, "seq_len": 16, "batch_size": 4,
                                                         "imag_starts": 8, **over})
    agent = DreamerAgent(cfg, gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
                         gym.spaces.Box(-1, 1, (2,), np.float32), H)
    rp = Replay(20 * (H + 1), H + 1, agent.replay_layout, 2, seed=3)
    agent.prepare_replay(rp)
    rng = np.random.default_rng(0)
    slots = rp.add({"obs": rng.normal(size=(8, H + 1, 4)).astype(np.float32),
                    "prev_action": rng.uniform(-1, 1, (8, H + 1, 2)).astype(np.float32),
                    "reward": rng.random((8, H + 1)).astype(np.float32),
                    "terminal": np.zeros((8, H + 1), np.float32)})
    agent.episodes_added(rp, slots)
    return agent, rp


def updates(agent, rp, n: int = 1, seed: int = 5) -> list[dict]:
    torch.manual_seed(seed)
    return [dict(agent.train_step(rp, 10**9)) for _ in range(n)]


# ----- torch.compile ------------------------------------------------------------------------------------
def test_compile_is_off_by_default_and_under_paper():
    assert DreamerConfig().compile is False
    assert resolve_config("mamba", "PointRobot", ["paper"]).compile is False
    assert resolve_config("mamba", "PointRobot", ["paper"], {"compile": True}).compile is True


def test_compiled_agent_keeps_its_checkpoint_keys_and_loads_both_ways():
    eager, _ = make()
    compiled, _ = make(compile=True)           # torch.compile is lazy: nothing compiles until a call
    rssm = compiled.wm.rssm
    assert rssm._posterior_fn is not posterior_step and rssm._prior_fn is not prior_step
    assert eager.wm.rssm._posterior_fn is posterior_step
    a, b = eager.state_dict(), compiled.state_dict()
    for part in ("wm", "ac"):
        assert list(a[part]) == list(b[part])
        assert not any("_orig_mod" in k for k in b[part])
    compiled.load_state_dict(a)
    eager.load_state_dict(b)
    for k, v in compiled.wm.state_dict().items():
        torch.testing.assert_close(v, eager.wm.state_dict()[k], rtol=0, atol=0)


def test_compiled_update_matches_eager_graph_capture():
    """Dynamo's graph capture and AOT autograd (backend aot_eager: no code generation, seconds): one update
    with compiled RSSM steps gives the eager update's losses and gradient norms."""
    eager, rp = make()
    compiled, rp2 = make()
    compiled.wm.rssm.compile_steps(backend="aot_eager")
    [a], [b] = updates(eager, rp), updates(compiled, rp2)
    for k in LOSSES:
        assert b[k] == pytest.approx(a[k], rel=1e-5, abs=1e-7), k


def _inductor_unavailable() -> str | None:
    if not torch._dynamo.is_dynamo_supported():
        return "torch._dynamo does not support this Python/platform"
    try:        # CPU kernels are C++; on a GPU, Triton builds its launchers with the same compiler
        from torch._inductor.cpp_builder import get_cpp_compiler
        get_cpp_compiler()
    except Exception as e:      # noqa: BLE001 (any failure means: no C++ compiler for inductor)
        return f"inductor needs a C/C++ compiler, none found: {e}"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_inductor_unavailable() is not None, reason=str(_inductor_unavailable()))
def test_compiled_update_matches_eager_inductor():
    """``compile=True`` (inductor): the same losses and gradient norms as eager from the same seed, over two
    updates (the compiled steps draw no random numbers). About 30-40 s on a CPU, mostly compiling."""
    eager, rp = make()
    compiled, rp2 = make(compile=True)
    a = updates(eager, rp, 2)
    t0 = time.perf_counter()
    b = updates(compiled, rp2, 2)
    print(f"compile=True: two updates in {time.perf_counter() - t0:.1f} s (compilation included)")
    for ma, mb in zip(a, b):
        for k in LOSSES:
            assert mb[k] == pytest.approx(ma[k], rel=1e-4, abs=1e-6), k


# ----- mixed precision ------------------------------------------------------------------------------------
def test_bf16_updates_are_finite_and_close_to_fp32():
    """Two bf16 updates: every metric finite, the losses within a few percent of fp32's, weights float32."""
    ref, rp_ref = make()
    agent, rp = make(precision="bf16")
    fp32, bf16 = updates(ref, rp_ref, 2), updates(agent, rp, 2)
    for m32, m16 in zip(fp32, bf16):
        assert all(math.isfinite(v) for v in m16.values())
        for k in ("losses/world_model", "losses/critic"):
            assert m16[k] == pytest.approx(m32[k], rel=0.05), k
        assert m16["losses/actor"] == pytest.approx(m32["losses/actor"], rel=0.3, abs=1e-3)
    assert all(p.dtype == torch.float32 for p in agent.wm.parameters())
    assert not agent.scaler.is_enabled()


def test_fp16_scales_its_gradients_on_the_agents_device():
    """fp16 (for GPUs) has a GradScaler for the agent's device type; fp32 and bf16 have none. One fp16
    update runs and its losses are finite."""
    for precision, scaled in (("fp32", False), ("bf16", False), ("fp16", True)):
        agent, rp = make(precision=precision)
        assert agent.scaler.is_enabled() is scaled
        assert agent._autocast().device == agent.device.type
    assert agent.scaler._device == agent.device.type
    [m] = updates(agent, rp)
    assert all(math.isfinite(m[k]) for k in ("losses/world_model", "losses/actor", "losses/critic"))
    assert agent.scaler.get_scale() > 0


def test_fp16_gradient_scale_survives_a_checkpoint():
    """The scaler's state (its scale and growth tracker) is part of the agent's state, so an fp16 run
    resumes with the scale it had learned instead of restarting at 65536 (and overflowing again)."""
    agent, rp = make(precision="fp16")
    updates(agent, rp)
    agent.scaler.update(new_scale=1024.0)
    state = agent.state_dict()
    fresh, _ = make(precision="fp16")
    assert fresh.scaler.get_scale() != 1024.0
    fresh.load_state_dict(state)
    assert fresh.scaler.get_scale() == 1024.0
    plain, _ = make()
    plain.load_state_dict(make()[0].state_dict())       # fp32: the scaler's state is empty and ignored
    assert not plain.scaler.is_enabled()


# ----- host synchronisations ----------------------------------------------------------------------------------
#: the Tensor methods that read a value on the host (each one waits for the device on a GPU)
HOST_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy", "cpu")


def _count_host_reads(fn, exempt: set[int]) -> list[str]:
    """Call ``fn()``, recording each host read of a tensor whose id is not in ``exempt``."""
    calls: list[str] = []
    originals = {name: getattr(torch.Tensor, name) for name in HOST_READS}

    def wrap(name, original):
        def counted(self, *args, **kwargs):
            if id(self) not in exempt:
                calls.append(name)
            return original(self, *args, **kwargs)
        return counted

    try:
        for name, original in originals.items():
            setattr(torch.Tensor, name, wrap(name, original))
        fn()
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)
    return calls


@pytest.mark.parametrize("algo,context", [("mamba", "full"), ("mamba", "nograd-prefix"), ("dreamer-tune", "full")])
def test_an_update_reads_one_value_on_the_host(algo, context):
    """One host read per update (the fused finite check; before: 30, a check per loss and gradient norm,
    argument validation of the policy's distributions, the return normaliser's flag and every metric);
    reading the metrics afterwards costs one more. Adam's step counters live on the CPU whatever the
    device, so reading them is no synchronisation: exempt."""
    agent, rp = make(algo, **({"context": context} if algo == "mamba" else {}))
    agent.train_step(rp, 10**9)               # creates the optimiser states
    steps = {id(s["step"]) for opt in (agent.wm_opt, agent.actor_opt, agent.critic_opt)
             for s in opt.state.values()}
    out = {}
    calls = _count_host_reads(lambda: out.setdefault("m", agent.train_step(rp, 10**9)), steps)
    assert calls == ["tolist"], calls
    assert isinstance(out["m"], UpdateMetrics)
    calls = _count_host_reads(lambda: dict(out["m"]), steps)
    assert len(calls) == 1, calls
    assert all(isinstance(v, float) and math.isfinite(v) for v in out["m"].values())


@pytest.mark.skipif(DEVICE != "cuda", reason="CUDA's synchronisation debug mode (MAMBA_EDU_DEVICE=cuda)")
def test_cuda_sync_debug_mode_sees_one_synchronisation_besides_uploads():
    """On a GPU, CUDA itself reports every synchronising call of one update (torch.cuda.set_sync_debug_mode):
    apart from copying the batch and indices to the GPU (lines with ``as_tensor(`` or ``.to(``), at most one."""
    import linecache
    import warnings

    agent, rp = make()
    agent.train_step(rp, 10**9)
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            agent.train_step(rp, 10**9)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [(w.filename, w.lineno, linecache.getline(w.filename, w.lineno).strip()) for w in caught
             if "synchroniz" in str(w.message)]
    others = [s for s in syncs if "as_tensor(" not in s[2] and ".to(" not in s[2]]
    print(f"{len(syncs)} synchronising calls, {len(others)} besides uploads: {others}")
    assert len(others) <= 1, others


def test_update_metrics_read_as_floats_once():
    t = torch.tensor([1.5, 2.0], device=DEVICE)
    m = UpdateMetrics({"a": t[0], "b": t[1] * 2, "n": 3})
    assert dict(m) == {"a": 1.5, "b": 4.0, "n": 3.0} and m == {"a": 1.5, "b": 4.0, "n": 3.0}
    assert list(m) == ["a", "b", "n"] and len(m) == 3 and "a" in m and "z" not in m
    with pytest.raises(KeyError):
        m["z"]
    assert torch.is_tensor(m.tensors()["a"])


def test_a_nan_gradient_never_reaches_the_weights():
    """A NaN in one actor gradient: its step writes finite values (the gradients are zeroed) and the update
    stops at its one check, naming the gradient norm."""
    agent, rp = make()
    updates(agent, rp)
    first = next(agent.ac.actor.parameters())
    handle = first.register_hook(lambda g: torch.full_like(g, float("nan")))
    with pytest.raises(NonFiniteError, match=r"non-finite gradient norm of 'actor' \(nan\) at update 1; "
                                             r"training stopped"):
        agent.train_step(rp, 10**9)
    handle.remove()
    assert agent.updates == 1
    for module in (agent.wm, agent.ac):
        assert all(torch.isfinite(p).all() for p in module.parameters())
    for opt in (agent.wm_opt, agent.actor_opt, agent.critic_opt):
        assert all(torch.isfinite(v).all() for s in opt.state.values() for v in s.values())


# ----- no tensor on a fixed device ------------------------------------------------------------------------
#: torch functions that make a new tensor (or generator) on the default device unless given ``device=``
CONSTRUCTORS = {"zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "eye", "tensor", "as_tensor",
                "rand", "randn", "randint", "randperm", "normal", "from_numpy", "scalar_tensor", "Generator",
                "empty_strided", "tril_indices", "triu_indices"}


def device_problems(source: str, filename: str = "<src>") -> list[str]:
    """Tensor constructors of ``source`` that ignore the data's device: ``torch.<constructor>(...)``
    without ``device=`` (unless moved by an immediate ``.to(...)`` or made for a module's parameter or
    buffer, which ``module.to(device)`` moves), a literal device other than a CPU random generator's, and
    ``.cuda()``."""
    tree = ast.parse(source, filename)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        where = f"{filename}:{node.lineno}"
        name = node.func.attr
        if name == "cuda" and not node.args:
            problems.append(f"{where}: .cuda()")
            continue
        base = node.func.value
        if not (isinstance(base, ast.Name) and base.id == "torch" and name in CONSTRUCTORS):
            continue
        device = next((k.value for k in node.keywords if k.arg == "device"), None)
        if isinstance(device, ast.Constant) and not (name == "Generator" and device.value == "cpu"):
            problems.append(f"{where}: torch.{name}(device={device.value!r}) hard-codes a device")
        if device is not None:
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.attr == "to" and isinstance(parents.get(parent), ast.Call):
            continue                                        # torch.x(...).to(device)
        if isinstance(parent, ast.Call):
            f = parent.func
            callee = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if callee in ("Parameter", "register_buffer"):
                continue                                    # module state: moved by module.to(device)
        problems.append(f"{where}: torch.{name}(...) without device=")
    return problems


def test_the_checker_finds_tensors_made_without_a_device():
    bad = ("import torch\nx = torch.zeros(3)\ny = torch.arange(4, device='cuda')\nz = w.cuda()\n"
           "g = torch.Generator()\n")
    assert [p.split(": ", 1)[1] for p in device_problems(bad)] == [
        "torch.zeros(...) without device=", "torch.arange(device='cuda') hard-codes a device", ".cuda()",
        "torch.Generator(...) without device="]
    good = ("import torch\nx = torch.zeros(3, device=d)\ny = torch.randint(0, 3, (2,), generator=g).to(d)\n"
            "p = nn.Parameter(torch.zeros(3))\nself.register_buffer('b', torch.zeros(()))\n"
            "g = torch.Generator(device='cpu')\nz = torch.zeros_like(x)\n")
    assert device_problems(good) == []


def test_no_tensor_is_made_on_a_fixed_device_in_the_dreamer_agent():
    files = sorted((ROOT / "mamba_edu" / "agents" / "dreamer").glob("*.py"))
    assert len(files) > 5
    problems = [p for f in files for p in device_problems(f.read_text(), str(f.relative_to(ROOT)))]
    assert problems == []


# ----- the GPU timing benchmark, in its CPU smoke-test mode ---------------------------------------------------
def test_gpu_update_timing_runs_quick_on_the_cpu(tmp_path):
    out = tmp_path / "timing.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_update_timing.py"), "--device", "cpu", "--quick",
           "--updates", "2", "--warmup", "1", "--variants", "fp32", "fp32+compile",
           "--compile-backend", "aot_eager", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    import json
    report = json.loads(out.read_text())
    assert set(report["variants"]) == {"fp32", "fp32+compile"} and report["device"] == "cpu"
    for r in report["variants"].values():
        assert r["finite"] and r["median_s"] > 0 and len(r["times_s"]) == 2
    assert report["variants"]["fp32"]["speedup"] == 1.0
    assert "| fp32+compile |" in done.stdout
