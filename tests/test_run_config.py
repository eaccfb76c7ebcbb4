"""The shared run-level config, the bounds declared beside every field, ``--set`` parsing of the composed
configs, the algorithm registry as the one place that maps a name to its config and learner, quick mode
read in one place, and saved runs that keep loading."""
import ast
import dataclasses
import inspect
import json
import math
import textwrap
from pathlib import Path

import pytest

from mamba_edu.agents import ALGOS, registry
from mamba_edu.agents.config_fields import field_kinds, parse_text
from mamba_edu.agents.dreamer.config import DreamerConfig
from mamba_edu.agents.ppo.config import PPOConfig
from mamba_edu.agents.run_config import RunConfig, bounded, describe, unbounded, unchecked_fields

PACKAGE = Path(__file__).resolve().parents[1] / "mamba_edu"
CONFIGS = [DreamerConfig, PPOConfig]
ids = [c.__name__ for c in CONFIGS]

#: the run-level fields both configs share (RunConfig's)
RUN_FIELDS = {"steps", "eval_every", "eval_tasks", "final_tasks", "eval_greedy", "checkpoint_every_s", "seed",
              "device", "threads", "num_envs", "reward_in_obs", "time_in_obs"}


# ----- composition ---------------------------------------------------------------------------------

def test_both_configs_compose_the_run_config():
    assert {f.name for f in dataclasses.fields(RunConfig)} == RUN_FIELDS
    for cls in CONFIGS:
        assert issubclass(cls, RunConfig)
        assert RUN_FIELDS <= {f.name for f in dataclasses.fields(cls)}
        for name in RUN_FIELDS:       # one meaning: the same type in every family
            assert field_kinds(cls)[name] == field_kinds(RunConfig)[name], (cls.__name__, name)


def test_each_family_keeps_its_own_run_defaults():
    d, p = DreamerConfig(), PPOConfig()
    assert (d.steps, d.eval_every, d.eval_greedy, d.device, d.num_envs, d.reward_in_obs) == (
        1_000_000, 10_000, True, "auto", 4, False)
    assert (p.steps, p.eval_every, p.eval_greedy, p.device, p.num_envs, p.reward_in_obs) == (
        10_000_000, 100_000, False, "cpu", 16, True)
    for cfg in (d, p):
        assert (cfg.eval_tasks, cfg.final_tasks, cfg.checkpoint_every_s, cfg.seed, cfg.threads, cfg.time_in_obs) == (
            100, 1000, 300.0, 0, 0, False)


@pytest.mark.parametrize("cls", [RunConfig, *CONFIGS], ids=["RunConfig", *ids])
def test_every_field_declared_in_a_class_has_a_docstring(cls):
    """CleanRL style: a string right after each field says what it is."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    missing = []
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign):
            nxt = body[i + 1] if i + 1 < len(body) else None
            doc = nxt.value.value if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) else None
            if not (isinstance(doc, str) and doc.strip()):
                missing.append(node.target.id)
    assert not missing, f"{cls.__name__}: fields without a docstring: {missing}"


@pytest.mark.parametrize("path", sorted(p.relative_to(PACKAGE.parent).as_posix() for p in [
    PACKAGE / "agents" / "run_config.py", PACKAGE / "agents" / "dreamer" / "config.py",
    PACKAGE / "agents" / "ppo" / "config.py", PACKAGE / "agents" / "registry.py", PACKAGE / "quick.py"]))
def test_config_docs_cite_the_paper_not_tracker_issues(path):
    text = (PACKAGE.parent / path).read_text()
    assert "issue #" not in text.lower(), path


# ----- bounds ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", CONFIGS, ids=ids)
def test_every_field_declares_its_valid_values(cls):
    """Every number (and list of widths) is bounded(...) or explicitly unbounded(..., why), every string
    names its choices: a field added later cannot go unchecked."""
    assert unchecked_fields(cls) == []
    for f in dataclasses.fields(cls):
        if "unbounded" in f.metadata:
            assert len(f.metadata["unbounded"]) > 10, f"{f.name}: say why any value is valid"


def test_the_declarations_refuse_to_be_vague():
    with pytest.raises(TypeError):
        bounded(3)                   # no bound at all
    with pytest.raises(TypeError):
        bounded(3, minimum=1)        # a typo is not silently ignored
    with pytest.raises(TypeError):
        unbounded(3, "")             # unbounded needs its reason


def _bounded_fields():
    for cls in CONFIGS:
        kinds = field_kinds(cls)
        for f in dataclasses.fields(cls):
            if "unbounded" not in f.metadata and kinds[f.name] != "bool" or "choices" in f.metadata:
                yield pytest.param(cls, f.name, id=f"{cls.__name__}.{f.name}")


def _violations(kind: str, meta) -> list:
    """Values of the right type that break the bound ``meta``."""
    if "choices" in meta:
        c = meta["choices"]
        return [not c[0]] if isinstance(c[0], bool) else ["not-a-choice", c[0].upper() + "x"]
    lo, hi, gt = meta.get("lo"), meta.get("hi"), meta.get("gt")
    if kind == "ints":
        out = [(lo - 1,), (8, lo - 1)]
        return out + ([()] if meta.get("nonempty") else [])
    step = 1 if kind == "int" else 0.5
    out = []
    if lo is not None:
        out.append(lo - step)
    if hi is not None:
        out.append(hi + step)
    if gt is not None:
        out += [gt, gt - step]
    return out


def _boundaries(kind: str, meta) -> list:
    """Values of the right type on the edge of the bound ``meta`` (valid)."""
    if "choices" in meta:
        return list(meta["choices"])
    if kind == "ints":
        return [(meta["lo"],)]
    out = [meta[k] for k in ("lo", "hi") if k in meta]
    if "gt" in meta:
        out.append(meta["gt"] + 1e-3)
    return [int(v) if kind == "int" else float(v) for v in out]


@pytest.mark.parametrize("cls, name", list(_bounded_fields()))
def test_a_violated_bound_raises_one_line_naming_field_value_and_range(cls, name):
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    kind = field_kinds(cls)[name]
    values = _violations(kind, f.metadata)
    assert values
    for value in values:
        with pytest.raises(ValueError) as e:
            dataclasses.replace(cls(), **{name: value}).validate()
        msg = str(e.value)
        assert "\n" not in msg and msg.startswith(f"config: {name} must "), msg
        assert f"got {value!r}" in msg or f"got {value}" in msg, msg
        if "choices" in f.metadata and len(f.metadata["choices"]) > 1:
            assert all(str(c) in msg for c in f.metadata["choices"]), msg
        elif "choices" not in f.metadata:
            bound = next(str(f.metadata[k]) for k in ("lo", "gt", "hi") if k in f.metadata)
            assert bound in msg, (msg, describe(f.metadata))


@pytest.mark.parametrize("cls, name", list(_bounded_fields()))
def test_the_edge_of_a_bound_is_valid(cls, name):
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    for value in _boundaries(field_kinds(cls)[name], f.metadata):
        over = {name: value}
        if cls is DreamerConfig and name == "context" and value != "full":
            over["full_context"] = True           # a relation between fields, checked after the bounds
        if cls is DreamerConfig and name == "state_stride":
            over["burn_in"] = value
        dataclasses.replace(cls(), **over).validate()


def test_messages_the_tests_and_docs_rely_on():
    cases = [(DreamerConfig, {"gamma": 2.0}, "config: gamma must lie in [0, 1], got 2.0"),
             (DreamerConfig, {"threads": -3}, "config: threads must be >= 0, got -3"),
             (DreamerConfig, {"model_lr": 0.0}, "config: model_lr must be > 0, got 0.0"),
             (DreamerConfig, {"enc_units": -1}, "config: enc_units must be >= 0 (0: as the heads), got -1"),
             (DreamerConfig, {"precision": "fp8"}, "config: precision must be one of fp32, bf16, fp16; got 'fp8'"),
             (PPOConfig, {"reconstruction": "x"}, "config: reconstruction must be one of global, local; got 'x'"),
             (PPOConfig, {"reward_in_obs": False}, "config: reward_in_obs must stay True"),
             (PPOConfig, {"policy_layers": ()},
              "config: policy_layers must be a non-empty list of widths >= 1, got ()"),
             (PPOConfig, {"device": "cuda"}, "config: device must be one of auto, cpu (auto = CPU")]
    for cls, over, text in cases:
        with pytest.raises(ValueError) as e:
            dataclasses.replace(cls(), **over).validate()
        assert str(e.value).startswith(text), str(e.value)
    assert PPOConfig(rnd_weight_scale=-3.0).validate().rnd_weight_scale == -3.0   # explicitly unbounded


# ----- --set parsing of the composed configs --------------------------------------------------------

@pytest.mark.parametrize("cls, name, text, value", [
    (PPOConfig, "policy_layers", "128,128", (128, 128)),
    (PPOConfig, "policy_layers", "64", (64,)),
    (PPOConfig, "rnd_layers", " 256 , 256 ", (256, 256)),
    (PPOConfig, "steps", "1e6", 1_000_000),            # inherited from RunConfig
    (DreamerConfig, "steps", "2000", 2000),
    (DreamerConfig, "eval_greedy", "false", False),    # inherited bool
    (PPOConfig, "eval_greedy", "1", True),
    (PPOConfig, "reward_in_obs", "True", True),
    (DreamerConfig, "time_in_obs", "0", False),
    (DreamerConfig, "device", "cpu", "cpu"),           # inherited choice
    (DreamerConfig, "context", "stored-state", "stored-state"),
    (DreamerConfig, "checkpoint_every_s", "60", 60.0),
    (DreamerConfig, "gamma", "0.99", 0.99),
])
def test_set_values_parse_by_the_field_annotation(cls, name, text, value):
    got = parse_text(cls, name, text)
    assert got == value and type(got) is type(value)


def test_cli_set_uses_the_registry_config_of_each_algorithm():
    from mamba_edu.cli import _parse_set

    assert _parse_set(["policy_layers=128,128", "steps=640", "eval_greedy=true"], "varibad") == {
        "policy_layers": (128, 128), "steps": 640, "eval_greedy": True}
    assert _parse_set(["deter=64", "time_in_obs=1", "device=cpu"], "mamba") == {
        "deter": 64, "time_in_obs": True, "device": "cpu"}
    with pytest.raises(ValueError, match="unknown config field 'policy_layers' for mamba"):
        _parse_set(["policy_layers=1"], "mamba")


# ----- the registry ---------------------------------------------------------------------------------

def test_the_registry_table_covers_every_algorithm_name():
    assert tuple(registry.ALGORITHMS) == registry.AVAILABLE
    assert set(registry.AVAILABLE) == set(ALGOS)
    assert registry.DREAMER_ALGOS == ("mamba", "dreamer-tune", "dreamer-vanilla")
    assert registry.PPO_ALGOS == ("varibad", "varibad-local", "hyperx", "rl2")
    with pytest.raises(ValueError, match="unknown algorithm 'nope'; valid: mamba, dreamer-tune"):
        registry.config_class("nope")


@pytest.mark.parametrize("algo", ALGOS)
def test_the_registry_maps_each_algorithm_to_its_config_presets_and_learner(algo, monkeypatch):
    monkeypatch.delenv("MAMBA_EDU_QUICK", raising=False)
    row = registry.algorithm(algo)
    cfg = registry.resolve_config(algo, "MetaBandit", None, {"seed": 2})
    assert type(cfg) is row.config_class is registry.config_class(algo)
    assert all(getattr(cfg, k) == v for k, v in row.preset.items())
    assert set(registry.extra_presets(algo)) >= {"quick"}
    assert registry.family_of(algo) == ("ppo" if algo in registry.PPO_ALGOS else "dreamer")
    saved = json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert registry.config_from_saved(algo, saved) == cfg
    assert callable(row.family.learner)


def test_only_the_registry_picks_a_config_class_outside_the_agents():
    """The CLI, the training loop, the sweeps ... ask the registry; none imports a family's config."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if (PACKAGE / "agents") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and (
                    node.module.endswith((".dreamer.config", ".ppo.config"))
                    or {a.name for a in node.names} & {"DreamerConfig", "PPOConfig"}):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, offenders


# ----- quick mode -----------------------------------------------------------------------------------

#: modules that still touch the variable themselves, and what they should call instead; empty once
#: the training loop's rewrite uses mamba_edu.quick.without_quick_mode
PENDING: dict[str, str] = {}


def test_quick_mode_is_read_in_one_place():
    """Only mamba_edu/quick.py has the variable's name as a string in its code (``os.environ.get(...)``,
    ``os.environ.pop(...)``; docstrings that mention it are other strings); every other module calls
    quick_mode() / with_quick() / quick_budget() / without_quick_mode() or uses QUICK_ENV."""
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "quick.py":
            continue
        tree = ast.parse(path.read_text())
        lines = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value == "MAMBA_EDU_QUICK"]
        if lines:
            offenders[rel] = lines
    assert set(offenders) <= set(PENDING), {k: v for k, v in offenders.items() if k not in PENDING}


def test_the_quick_call_sites_use_the_one_function():
    from mamba_edu import demo, quick
    from mamba_edu.agents import presets
    from mamba_edu.exercises import questions, sandbox
    from mamba_edu.sweep import spec

    assert questions.quick_mode is quick.quick_mode
    assert presets.with_quick is quick.with_quick and spec.with_quick is quick.with_quick
    assert demo.quick_budget is quick.quick_budget
    assert quick.QUICK_ENV in sandbox.PASSED_ON


def test_quick_mode_shrinks_budgets_only(monkeypatch):
    from mamba_edu import quick

    monkeypatch.delenv(quick.QUICK_ENV, raising=False)
    assert not quick.quick_mode() and quick.with_quick(["cpu"]) == ["cpu"] and quick.quick_budget(1000, 10) == 1000
    for algo in ("mamba", "varibad"):
        explicit = registry.resolve_config(algo, "MetaBandit", ["quick"], {"seed": 1})
        monkeypatch.setenv(quick.QUICK_ENV, "1")
        assert quick.quick_mode() and quick.quick_budget(1000, 10) == 10
        assert quick.with_quick(["cpu"]) == ["cpu", "quick"] and quick.with_quick(["quick"]) == ["quick"]
        assert registry.resolve_config(algo, "MetaBandit", None, {"seed": 1}) == explicit
        with quick.without_quick_mode():
            assert not quick.quick_mode()
        assert quick.quick_mode()
        monkeypatch.setenv(quick.QUICK_ENV, "0")
        assert not quick.quick_mode()
        monkeypatch.delenv(quick.QUICK_ENV)


# ----- saved runs keep loading ----------------------------------------------------------------------

def _saved_configs() -> list[Path]:
    shipped = PACKAGE / "pretrained"          # plus the lead's real run folders where they exist (read only)
    paths = sorted(shipped.glob("*/config.json")) + sorted(Path("/work/exp").glob("*/config.json"))
    return [p for p in paths if p.is_file()]


@pytest.mark.parametrize("path", _saved_configs(), ids=lambda p: p.parent.name)
def test_saved_runs_rebuild_with_the_values_they_recorded(path):
    """config.json (read only) → the same config values: every recorded field as recorded, the fields
    added later as the run had them."""
    saved = json.loads(path.read_text())
    cfg = registry.config_from_saved(saved["algo"], saved["config"])
    got = json.loads(json.dumps(dataclasses.asdict(cfg)))
    for key, value in saved["config"].items():
        assert got[key] == value or (isinstance(value, float) and math.isclose(got[key], value)), (key, value)
    assert type(cfg) is registry.config_class(saved["algo"])
