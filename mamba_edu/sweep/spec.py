"""Sweep specs: parsing, validation and expansion into trials.

A spec is a YAML mapping (docs/sweeps.md has the full reference)::

    name: tiny                       # optional; default: the file's stem
    algos: [mamba, varibad]          # required
    envs: [MetaBandit]               # required; short names or gymnasium ids
    seeds: 2                         # required; n (= 0..n-1) or a list of ints
    presets: []                      # extra presets for every trial
    overrides: {steps: 640}          # config fields for every trial
    resources: {cpus: 1, gpus: 0}    # per trial; gpus may be a fraction
    rules:                           # settings for some trials, applied in order
      - algos: [dreamer]             #   algorithm names or the families dreamer / ppo
        envs: [Rooms-3]              #   (a rule without algos/envs matches every trial)
        presets: [cpu]
        overrides: {steps: 200000}
    variants:                        # optional 4th axis (ablations); each may name algos/envs it applies to
      - {name: full}
      - {name: no-reward-obs, algos: [mamba], presets: [no-reward-obs]}
    grid: {train_ratio: [16, 64]}    # optional: every combination becomes a variant
    max_retries: 2                   # retries of a failed trial (from its checkpoint)
    max_concurrent: null             # cap on trials in flight (default: as many as Ray can place)

Settings stack per trial: top level → matching ``rules`` in order → the variant → the seed
(``overrides.seed``). Presets accumulate; overrides and resources are updated key by key.

Every trial is checked before anything runs: names (algorithms, environments, presets, config
fields, with the valid choices in the message), value types against the algorithm's config
dataclass, and finally the registry's own ``resolve_config`` (ranges, incompatible settings).
Problems are collected and raised together as one :class:`SweepSpecError`.

``MAMBA_EDU_QUICK=1`` makes the ``quick`` preset explicit in every trial's presets (the training code
would add it implicitly), so the trial's directory name and its saved ``config.json`` say so and a
resume on another machine, or without the variable, continues with the same configuration.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from mamba_edu.quick import with_quick

TOP_KEYS = ("name", "description", "algos", "envs", "seeds", "presets", "overrides", "resources", "rules",
            "variants", "grid", "max_retries", "max_concurrent")
REQUIRED = ("algos", "envs", "seeds")
SETTING_KEYS = ("presets", "overrides", "resources")
RULE_KEYS = ("algos", "envs") + SETTING_KEYS
VARIANT_KEYS = ("name",) + RULE_KEYS
RESOURCE_KEYS = ("cpus", "gpus")
DEFAULT_RESOURCES = {"cpus": 1.0, "gpus": 0.0}
MAX_PROBLEMS = 12


class SweepSpecError(ValueError):
    """A problem with a sweep spec, found before any trial starts."""


def _families() -> dict[str, tuple[str, ...]]:
    from mamba_edu.agents.registry import DREAMER_ALGOS, PPO_ALGOS

    return {"dreamer": DREAMER_ALGOS, "ppo": PPO_ALGOS}


def config_class(algo: str):
    """The config dataclass of ``algo``'s family (the registry's table)."""
    from mamba_edu.agents.registry import config_class as registry_config_class

    return registry_config_class(algo)


def family_of(algo: str) -> str:
    return "ppo" if algo in _families()["ppo"] else "dreamer"


@dataclass(frozen=True)
class Trial:
    """One run of the sweep: an ordinary run directory ``dir`` written by ``train``."""

    algo: str
    env: str
    seed: int
    variant: str | None
    presets: tuple[str, ...]
    overrides: dict[str, Any] = field(hash=False, compare=False)
    cpus: float = 1.0
    gpus: float = 0.0
    name: str = ""

    @property
    def key(self) -> dict[str, Any]:
        """What identifies the trial's configuration (hashed into its directory name)."""
        return {"algo": self.algo, "env": self.env, "presets": list(self.presets), "overrides": self.overrides}

    def label(self) -> str:
        v = f" [{self.variant}]" if self.variant else ""
        return f"{self.algo}{v} on {self.env}, seed {self.seed}"


@dataclass
class SweepSpec:
    name: str
    trials: list[Trial]
    max_retries: int = 2
    max_concurrent: int | None = None
    description: str = ""
    source: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)


# ----- small checkers ------------------------------------------------------------------------------

def _type_name(v: Any) -> str:
    return type(v).__name__


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _str_list(value: Any, where: str, problems: list[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}: expected a list of names, got {value!r}")
        return []
    return list(value)


def _mapping(value: Any, where: str, problems: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{where}: expected a mapping (key: value), got {_type_name(value)} {value!r}")
        return {}
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        problems.append(f"{where}: keys must be strings, got {bad!r}")
        return {}
    return dict(value)


def _unknown_keys(block: dict[str, Any], allowed: tuple[str, ...], where: str, problems: list[str]) -> None:
    for k in block:
        if k not in allowed:
            problems.append(f"{where}: unknown key {k!r}; valid: {', '.join(allowed)}")


def check_value(algo: str, key: str, value: Any, where: str) -> Any:
    """Check one override against ``algo``'s config field; returns the value (integral floats → int)."""
    cls = config_class(algo)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if key == "seed":
        raise SweepSpecError(f"{where}: set seeds with the top-level 'seeds' key, not overrides.seed")
    if key not in fields:
        raise SweepSpecError(f"{where}: unknown config field {key!r} for {algo}; valid: {', '.join(sorted(fields))}")
    f = fields[key]
    default = f.default if f.default is not dataclasses.MISSING else (
        f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
    bad = None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            bad = "true or false"
    elif isinstance(default, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not _is_int(value):
            bad = "an integer"
    elif isinstance(default, float):
        if not _is_number(value):
            bad = "a number"
        else:
            value = float(value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            bad = "a string"
    elif isinstance(default, tuple):
        if _is_int(value):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
            bad = "a list of integers"
        else:
            value = list(value)
    if bad:
        hint = " (YAML reads 1e6 as a string: write 1000000 or 1_000_000)" if isinstance(value, str) and \
            re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value) else ""
        raise SweepSpecError(f"{where}: {key} of {algo} must be {bad}, got {_type_name(value)} {value!r}{hint}")
    return value


def _resources(block: dict[str, Any], where: str, problems: list[str]) -> dict[str, float]:
    out = {}
    for k, v in block.items():
        if k not in RESOURCE_KEYS:
            problems.append(f"{where}: unknown resource {k!r}; valid: {', '.join(RESOURCE_KEYS)}")
        elif not _is_number(v) or v < 0 or (k == "cpus" and v <= 0):
            problems.append(f"{where}.{k}: expected a number {'> 0' if k == 'cpus' else '>= 0'}, got {v!r}")
        elif k == "gpus" and v > 1 and not float(v).is_integer():
            problems.append(f"{where}.gpus: a fraction of one GPU (<= 1) or a whole number of GPUs, got {v!r}")
        else:
            out[k] = float(v)
    return out


@dataclass
class _Settings:
    algos: list[str] | None
    envs: list[str] | None
    presets: list[str]
    overrides: dict[str, Any]
    resources: dict[str, float]
    where: str
    name: str | None = None

    def matches(self, algo: str, env: str) -> bool:
        if self.algos is not None:
            fams = _families()
            if not any(a == algo or algo in fams.get(a, ()) for a in self.algos):
                return False
        return self.envs is None or env in self.envs


def _settings(block: Any, where: str, allowed: tuple[str, ...], problems: list[str], valid_algos: list[str],
              name: str | None = None) -> _Settings:
    from mamba_edu.envs import short_name

    block = _mapping(block, where, problems)
    _unknown_keys(block, allowed, where, problems)
    algos = envs = None
    if "algos" in block:
        algos = _str_list(block["algos"], f"{where}.algos", problems)
        for a in algos:
            if a not in valid_algos and a not in _families():
                problems.append(f"{where}.algos: unknown algorithm or family {a!r}; valid: "
                                f"{', '.join(valid_algos + list(_families()))}")
    if "envs" in block:
        envs = []
        for e in _str_list(block["envs"], f"{where}.envs", problems):
            try:
                envs.append(short_name(e))
            except ValueError as err:
                problems.append(f"{where}.envs: {err}")
    presets = _str_list(block.get("presets"), f"{where}.presets", problems)
    overrides = _mapping(block.get("overrides"), f"{where}.overrides", problems)
    resources = _resources(_mapping(block.get("resources"), f"{where}.resources", problems), f"{where}.resources",
                           problems)
    return _Settings(algos, envs, presets, overrides, resources, where, name)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "-", text).strip("-") or "x"


def trial_dir_name(algo: str, env: str, seed: int, variant: str | None, presets: list[str],
                   overrides: dict[str, Any]) -> str:
    """Deterministic directory name: readable parts plus a hash of (algo, env, presets, overrides).

    Any change to the configuration (a preset, an override, the budget) gives a new directory, so a
    re-launched sweep never resumes a run that was started with other settings.
    """
    blob = json.dumps({"algo": algo, "env": env, "presets": list(presets), "overrides": overrides},
                      sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha1(blob.encode()).hexdigest()[:8]
    parts = [algo, env] + ([_safe(variant)] if variant else []) + [f"s{seed}", digest]
    return "_".join(parts)


def _seeds(value: Any, problems: list[str]) -> list[int]:
    if _is_int(value):
        if value < 1:
            problems.append(f"seeds: a count must be >= 1, got {value}")
            return []
        return list(range(value))
    if isinstance(value, list) and value and all(_is_int(v) and v >= 0 for v in value):
        if len(set(value)) != len(value):
            problems.append(f"seeds: repeated seeds in {value}")
        return list(dict.fromkeys(value))
    problems.append(f"seeds: expected a count (e.g. 4) or a non-empty list of non-negative integers, got {value!r}")
    return []


def _grid_variants(grid: Any, problems: list[str]) -> list[dict[str, Any]]:
    grid = _mapping(grid, "grid", problems)
    if not grid:
        return []
    keys, values = [], []
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            problems.append(f"grid.{k}: expected a non-empty list of values, got {v!r}")
            return []
        keys.append(k)
        values.append(v)
    return [{"name": ",".join(f"{k}={v}" for k, v in zip(keys, combo)), "overrides": dict(zip(keys, combo))}
            for combo in itertools.product(*values)]


def parse_spec(raw: Any, name: str = "sweep", source: Path | None = None) -> SweepSpec:
    """Validate a spec (already loaded from YAML) and expand it into trials; raises SweepSpecError.

    Every block is checked before the expansion, and problems are collected so that one error lists
    them all; the expansion then resolves every trial's configuration.
    """
    from mamba_edu.agents import ALGOS

    where = f"spec {source}" if source else "spec"
    _check_required(raw, where)
    problems: list[str] = []
    _unknown_keys(raw, TOP_KEYS, "top level", problems)
    algos = _algos(raw["algos"], problems)
    envs = _envs(raw["envs"], problems)
    seeds = _seeds(raw["seeds"], problems)
    options = _launch_options(raw, name, problems)
    valid_algos = list(ALGOS)
    top = _settings({k: raw[k] for k in SETTING_KEYS if k in raw}, "top level", SETTING_KEYS, problems, valid_algos)
    rules = _rules(raw.get("rules"), problems, valid_algos)
    variants = _with_grid(_variants(raw.get("variants"), problems, valid_algos),
                          _grid_variants(raw.get("grid"), problems))
    if problems:
        raise _collect(where, problems)
    trials = _expand(algos, envs, seeds, top, rules, variants or [None], problems)
    if problems:
        raise _collect(where, problems)
    if not trials:
        raise SweepSpecError(f"{where}: the spec expands to no trials (do the variants' algos/envs filters match "
                             "any of algos × envs?)")
    return SweepSpec(options.name, trials, options.max_retries, options.max_concurrent, options.description,
                     source, raw)


def _check_required(raw: Any, where: str) -> None:
    """The spec must be a mapping with the required keys (no point in checking more otherwise)."""
    if not isinstance(raw, dict):
        raise SweepSpecError(f"{where}: expected a YAML mapping with keys {', '.join(REQUIRED)} (and optionally "
                             f"{', '.join(k for k in TOP_KEYS if k not in REQUIRED)}), got {_type_name(raw)}")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise SweepSpecError(f"{where}: missing required field(s) {', '.join(missing)} "
                             f"(a spec needs {', '.join(REQUIRED)})")


def _algos(value: Any, problems: list[str]) -> list[str]:
    """The spec's algorithms, known ones only and without repeats."""
    from mamba_edu.agents.registry import AVAILABLE, check_algo

    algos = _str_list(value, "algos", problems)
    if not algos and not problems:
        problems.append("algos: empty; valid: " + ", ".join(AVAILABLE))
    for a in algos:
        try:
            check_algo(a)
        except ValueError as e:
            problems.append(f"algos: {e}")
    return [a for a in dict.fromkeys(algos) if a in AVAILABLE]


def _envs(value: Any, problems: list[str]) -> list[str]:
    """The spec's environments as short names, without repeats; those needing a missing extra are problems."""
    from mamba_edu.envs import FAMILIES, short_name

    envs = []
    raw_envs = _str_list(value, "envs", problems)
    if not raw_envs and not problems:
        problems.append("envs: empty; valid: " + ", ".join(FAMILIES))
    for e in raw_envs:
        try:
            envs.append(short_name(e))
        except ValueError as err:
            problems.append(f"envs: {err}")
    envs = list(dict.fromkeys(envs))
    for e in envs:
        if FAMILIES[e][3] == "panda":
            import importlib.util

            if importlib.util.find_spec("panda_gym") is None:
                problems.append(f"envs: {e} needs the optional extra [panda] (pip install -e '.[panda]')")
    return envs


class _LaunchOptions(NamedTuple):
    name: str
    max_retries: int
    max_concurrent: int | None
    description: str


def _launch_options(raw: dict[str, Any], default_name: str, problems: list[str]) -> _LaunchOptions:
    """The spec's name, retries, concurrency cap and description (defaults where a value is invalid)."""
    spec_name = raw.get("name", default_name)
    if not isinstance(spec_name, str) or not spec_name:
        problems.append(f"name: expected a non-empty string, got {spec_name!r}")
        spec_name = default_name
    max_retries = raw.get("max_retries", 2)
    if not _is_int(max_retries) or max_retries < 0:
        problems.append(f"max_retries: expected an integer >= 0, got {max_retries!r}")
        max_retries = 0
    max_concurrent = raw.get("max_concurrent")
    if max_concurrent is not None and (not _is_int(max_concurrent) or max_concurrent < 1):
        problems.append(f"max_concurrent: expected an integer >= 1 (or null), got {max_concurrent!r}")
        max_concurrent = None
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.append(f"description: expected a string, got {_type_name(description)}")
        description = ""
    return _LaunchOptions(spec_name, max_retries, max_concurrent, description)


def _block_list(value: Any, key: str, problems: list[str]) -> list[Any]:
    """The list under ``key`` (``rules`` or ``variants``); nothing if it is empty or missing."""
    value = value or []
    if not isinstance(value, list):
        problems.append(f"{key}: expected a list of {key}, got {_type_name(value)}")
        return []
    return value


def _rules(value: Any, problems: list[str], valid_algos: list[str]) -> list[_Settings]:
    return [_settings(r, f"rules[{i}]", RULE_KEYS, problems, valid_algos)
            for i, r in enumerate(_block_list(value, "rules", problems))]


def _variants(value: Any, problems: list[str], valid_algos: list[str]) -> list[_Settings]:
    """The named variants; each needs a name, and names must not repeat."""
    variants = []
    for i, v in enumerate(_block_list(value, "variants", problems)):
        vname = v.get("name") if isinstance(v, dict) else None
        if not isinstance(vname, str) or not vname:
            problems.append(f"variants[{i}]: needs a non-empty 'name'")
            vname = f"variant{i}"
        variants.append(_settings(v, f"variants[{i}] ({vname})", VARIANT_KEYS, problems, valid_algos, vname))
    names = [v.name for v in variants]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"variants: repeated name(s) {', '.join(dupes)}")
    return variants


def _with_grid(variants: list[_Settings], grid: list[dict[str, Any]]) -> list[_Settings]:
    """Every variant (or none) combined with every combination of the grid."""
    if not grid:
        return variants
    combined = []
    for b, g in itertools.product(variants or [None], grid):
        if b is None:
            combined.append(_Settings(None, None, [], dict(g["overrides"]), {}, f"grid ({g['name']})", g["name"]))
        else:
            gname = f"{b.name},{g['name']}"
            combined.append(_Settings(b.algos, b.envs, list(b.presets), {**b.overrides, **g["overrides"]},
                                      dict(b.resources), f"{b.where} × grid ({gname})", gname))
    return combined


class _Stacked(NamedTuple):
    presets: list[str]
    overrides: dict[str, Any]
    resources: dict[str, float]


def _stack(algo: str, blocks: list[_Settings], problems: list[str]) -> _Stacked | None:
    """One trial's settings from its blocks in order (top level, matching rules, the variant).

    Presets accumulate without repeats (``quick`` last in quick mode), overrides and resources are
    updated key by key. None if an override does not fit ``algo``'s config (the problem is recorded).
    """
    presets: list[str] = []
    overrides: dict[str, Any] = {}
    resources = dict(DEFAULT_RESOURCES)
    ok = True
    for b in blocks:
        presets += b.presets
        for k, v in b.overrides.items():
            try:
                overrides[k] = check_value(algo, k, v, f"{b.where}.overrides")
            except SweepSpecError as e:
                problems.append(str(e))
                ok = False
        resources.update(b.resources)
    return _Stacked(list(dict.fromkeys(with_quick(presets))), overrides, resources) if ok else None


def _expand(algos: list[str], envs: list[str], seeds: list[int], top: _Settings, rules: list[_Settings],
            variants: list[_Settings | None], problems: list[str]) -> list[Trial]:
    """Trials = algos × envs × variants × seeds, minus the (algo, env) pairs a variant's filters exclude."""
    trials: list[Trial] = []
    seen: dict[str, str] = {}
    for algo, env, var in itertools.product(algos, envs, variants):
        if var is not None and not var.matches(algo, env):
            continue
        blocks = [top] + [r for r in rules if r.matches(algo, env)] + ([var] if var else [])
        stacked = _stack(algo, blocks, problems)
        if stacked is not None:
            trials += _seed_trials(algo, env, var, seeds, stacked, seen, problems)
    return trials


def _seed_trials(algo: str, env: str, var: _Settings | None, seeds: list[int], stacked: _Stacked,
                 seen: dict[str, str], problems: list[str]) -> list[Trial]:
    """One trial per seed, each configuration resolved by the registry and unique across variants."""
    from mamba_edu.agents.registry import resolve_config

    presets, resources = stacked.presets, stacked.resources
    vname = var.name if var else None
    trials = []
    for seed in seeds:
        over = {**stacked.overrides, "seed": seed}
        try:
            resolve_config(algo, env, presets, over)
        except (ValueError, TypeError) as e:
            problems.append(f"{algo} on {env}{f' (variant {var.name})' if var else ''}: {e}")
            break
        ident = json.dumps({"a": algo, "e": env, "p": presets, "o": over}, sort_keys=True, default=str)
        if ident in seen:
            problems.append(f"variants {seen[ident]!r} and {vname!r} give the same configuration for {algo} on "
                            f"{env}, seed {seed}")
            continue
        seen[ident] = vname or "(none)"
        if family_of(algo) == "ppo" and resources["gpus"] > 0:
            problems.append(f"{algo} on {env}: resources.gpus = {resources['gpus']:g}, but the PPO baselines run "
                            "on CPU only; give them gpus: 0 (e.g. a rule with algos: [ppo])")
            break
        trials.append(Trial(algo, env, seed, vname, tuple(presets), over, resources["cpus"], resources["gpus"],
                            trial_dir_name(algo, env, seed, vname, presets, over)))
    return trials


def _collect(where: str, problems: list[str]) -> SweepSpecError:
    problems = list(dict.fromkeys(problems))
    if len(problems) == 1:
        return SweepSpecError(f"{where}: {problems[0]}")
    shown = problems[:MAX_PROBLEMS]
    more = len(problems) - len(shown)
    lines = [f"{where}: {len(problems)} problems, nothing was started:"] + [f"  - {p}" for p in shown]
    if more:
        lines.append(f"  ... and {more} more")
    return SweepSpecError("\n".join(lines))


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a YAML spec file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep spec not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise SweepSpecError(f"spec {path}: not valid YAML ({str(e).splitlines()[0]}"
                             f"{', ' + str(e.problem_mark).strip() if getattr(e, 'problem_mark', None) else ''})")
    return parse_spec(raw, name=path.stem, source=path)


__all__ = ["SweepSpec", "SweepSpecError", "Trial", "check_value", "load_spec", "parse_spec", "trial_dir_name"]
