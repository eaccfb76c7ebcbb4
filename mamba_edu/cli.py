"""Command line: ``python -m mamba_edu {train,evaluate,bayes-optimal,demo,envs,plot,table}``.

Bad input (unknown env, algorithm, preset or config field, a value out of range or of the wrong type,
a missing or corrupt run directory, config.json or checkpoint, a run folder that another process
is training or that holds another run's files) prints one line ``error: ...`` naming what was
wrong and the valid choices, and exits with code 2. A run that fails while training because a
loss, gradient norm or parameter became NaN or infinite prints one ``error: ...`` line naming
what and at which update, and exits with code 1 (its latest checkpoint is the last good one).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one-line errors: ``error: ...`` (argparse names the valid choices) and exit
    code 2, like every other bad input; the usage stays in ``--help``."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def _parse_set(items: list[str], algo: str) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as {field: value of the field's annotated type} (ranges: the config's
    ``validate``)."""
    from mamba_edu.agents import registry
    from mamba_edu.agents.config_fields import parse_text

    cls = registry.config_class(algo)
    fields = {f.name for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        if key not in fields:
            raise ValueError(f"--set: unknown config field {key!r} for {algo}; valid: {', '.join(sorted(fields))}")
        out[key] = parse_text(cls, key, value)
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from mamba_edu.training.loop import train

    if args.resume:
        given = [flag for flag, v in (("--algo", args.algo), ("--env", args.env), ("--preset", args.preset),
                                      ("--set", args.set), ("--seed", args.seed))
                 if v is not None]
        if given:
            raise ValueError(f"--resume continues with the run's saved configuration; remove {', '.join(given)}")
    overrides = _parse_set(args.set or [], args.algo or "mamba")
    if args.steps is not None:
        if args.steps < 1:
            raise ValueError(f"--steps must be >= 1, got {args.steps}")
        overrides["steps"] = args.steps
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.resume and args.out is None:
        raise ValueError("--resume needs --out DIR (the run directory to continue)")
    if not args.resume and (args.algo is None or args.env is None):
        raise ValueError("train needs --algo and --env (or --resume --out DIR)")
    out = train(args.algo, args.env, args.preset or [], overrides, out=args.out, resume=args.resume,
                progress=not args.no_progress, extend_steps=args.steps if args.resume else None)
    print(json.dumps({"run": str(out), **json.loads((out / "final.json").read_text())}, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mamba_edu.training.loop import final_test

    if args.tasks < 1:
        raise ValueError(f"--tasks must be >= 1, got {args.tasks}")
    greedy = {"run": None, "mode": True, "sample": False}[args.actions]
    result = final_test(args.run, n_tasks=args.tasks, which=args.checkpoint, write=args.write_final, greedy=greedy)
    print(json.dumps(result, indent=2))
    return 0


def cmd_bayes_optimal(args: argparse.Namespace) -> int:
    from mamba_edu.references import reference

    print(json.dumps(reference(args.env, n_tasks=args.tasks), indent=2))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mamba_edu.demo import run_demo

    run_demo(args.out)
    return 0


def cmd_envs(args: argparse.Namespace) -> int:
    from mamba_edu.envs import FAMILIES, resolve_env_id

    for name in FAMILIES:
        print(f"{name:16s} {resolve_env_id(name)}")
    return 0


def cmd_pretrained(args: argparse.Namespace) -> int:
    from mamba_edu.pretrained import list_pretrained, pretrained_run

    if args.name is None:
        for name, text in list_pretrained().items():
            print(f"{name:22s} {text}")
    else:
        print(pretrained_run(args.name))
    return 0


PLOT_KINDS = ("curves", "sub-episodes", "behaviour", "heatmap", "animation")


def cmd_plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.kind not in PLOT_KINDS:
        raise ValueError(f"unknown plot kind {args.kind!r}; valid: {', '.join(PLOT_KINDS)}")
    for flag, value, kinds in (("--steps", args.steps, ("heatmap",)), ("--every", args.every, ("animation",)),
                               ("--seed", args.seed, ("heatmap", "animation"))):
        if value is not None and args.kind not in kinds:
            raise ValueError(f"{flag} applies to plot {' / '.join(kinds)} only, not to plot {args.kind}")
    default_out = "animation.gif" if args.kind == "animation" else f"{args.kind.replace('-', '_')}.png"
    out = Path(args.out or default_out)
    if args.kind == "behaviour":
        from mamba_edu.envs import make_batched
        from mamba_edu.rollout import rollout
        from mamba_edu.training.loop import FINAL_SEED, load_learner
        from mamba_edu.training.run_dir import read_config
        from mamba_edu.viz.behaviour import _family, behaviour_figure

        if len(args.run) != 1:
            raise ValueError(f"plot behaviour takes one --run DIR, got {len(args.run)}")
        _family(read_config(args.run[0])["env"])  # ValueError for families without a behaviour plot
        cfg, learner, saved = load_learner(args.run[0], "best")
        env = make_batched(saved["env"], 3, reward_in_obs=cfg.reward_in_obs, time_in_obs=cfg.time_in_obs)
        ro = rollout(learner.eval_policy(), env, tasks=env.sample_tasks(3, FINAL_SEED), seed=FINAL_SEED)
        env.close()
        out = behaviour_figure(saved["env"], ro, out, suptitle=f"{saved['algo']} on {saved['env']} (best checkpoint), "
                               "one colour per sub-episode")
    elif args.kind == "heatmap":
        out = _plot_heatmap(args.run, args.steps, args.seed, out)
    elif args.kind == "animation":
        from mamba_edu.viz.animation import animate_run

        if len(args.run) != 1:
            raise ValueError(f"plot animation takes one --run DIR, got {len(args.run)}")
        if args.every is not None and args.every < 1:
            raise ValueError(f"--every must be >= 1, got {args.every}")
        out = animate_run(args.run[0], out, seed=args.seed, every=args.every or 1)
    else:
        from mamba_edu.viz.curves import curves_figure, save_figure, sub_episode_figure

        figure = curves_figure if args.kind == "curves" else sub_episode_figure
        out = save_figure(figure(args.run), out)
    print(out)
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from mamba_edu.viz.tables import results_table

    print(results_table(args.run, format=args.format), end="")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from mamba_edu.sweep import SweepError, SweepInterrupted, run_sweep

    try:
        result = run_sweep(args.spec, out=args.out, address=args.address, max_concurrent=args.max_concurrent,
                           dry_run=args.dry_run, report_every=args.report_every)
    except SweepInterrupted as e:
        print(f"error: {e}", file=sys.stderr)
        return 130
    except SweepError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if args.dry_run or result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    """The CLI's parser: one sub-command per ``cmd_*`` function, in the order ``--help`` lists them."""
    p = _Parser(prog="python -m mamba_edu", description="mamba-edu: model-based meta-RL")
    sub = p.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_reference_commands(sub)
    _add_plot(sub)
    _add_table(sub)
    _add_sweep(sub)
    return p


def _add_train(sub: Any) -> None:
    from mamba_edu.agents import registry

    presets = {fam.name: list(fam.extra_presets) for fam in registry.FAMILIES.values()}
    t = sub.add_parser("train", help="train an agent; writes a run directory")
    t.add_argument("--algo", choices=registry.AVAILABLE)
    t.add_argument("--env", help="environment, e.g. Rooms-3 or mamba_edu/PointRobot-v0")
    t.add_argument("--preset", action="append", choices=sorted({n for names in presets.values() for n in names}),
                   help="extra preset stacked on the algorithm's (repeatable); Dreamer/MAMBA: "
                        f"{', '.join(presets['dreamer'])}; VariBAD/HyperX/RL²: {', '.join(presets['ppo'])}")
    t.add_argument("--steps", type=int, help="real env steps (default: the env's paper budget); with --resume: "
                                               "a larger budget that the run is extended to")
    t.add_argument("--seed", type=int)
    t.add_argument("--out", help="run directory (default runs/ALGO_ENV_sSEED_TIME)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config field (repeatable)")
    t.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    t.set_defaults(func=cmd_train)


def _add_evaluate(sub: Any) -> None:
    e = sub.add_parser("evaluate", help="test a run's checkpoint on held-out tasks; prints JSON")
    e.add_argument("--run", required=True)
    e.add_argument("--tasks", type=int, default=1000)
    e.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    e.add_argument("--actions", choices=["run", "mode", "sample"], default="run",
                   help="the policy's mode, sampled actions, or as the run evaluates (its eval_greedy; default)")
    e.add_argument("--write-final", action="store_true",
                   help="also (over)write DIR/final.json with the result (default: only print it)")
    e.set_defaults(func=cmd_evaluate)


def _add_reference_commands(sub: Any) -> None:
    """The commands that train nothing: reference returns, the demo, and what is registered or shipped."""
    b = sub.add_parser("bayes-optimal", help="print the Bayes-optimal / scripted reference return")
    b.add_argument("--env", required=True)
    b.add_argument("--tasks", type=int, default=1000)
    b.set_defaults(func=cmd_bayes_optimal)
    d = sub.add_parser("demo", help="the README's main demo")
    d.add_argument("--out", default="demo_output")
    d.set_defaults(func=cmd_demo)
    sub.add_parser("envs", help="list the registered environments").set_defaults(func=cmd_envs)
    pt = sub.add_parser("pretrained", help="list the shipped pre-trained runs, or print one's run directory")
    pt.add_argument("name", nargs="?", help="a shipped run (prints its directory, usable as --run DIR)")
    pt.set_defaults(func=cmd_pretrained)


def _plot_heatmap(runs: list[str], steps: list[int] | None, seed: int | None, out: Any) -> Any:
    """Fig. 2 of the runs: reward maps on Rooms-N, the reward arc on PointRobot (clear errors before loading)."""
    from mamba_edu.viz.curves import save_figure
    from mamba_edu.viz.heatmaps import check_reward_figure_run, compare_heatmaps, heatmap_figure
    from mamba_edu.viz.reward_arc import arc_figure

    checked = [check_reward_figure_run(run) for run in runs]
    envs = {saved["env"] for saved, _ in checked}
    if len(envs) > 1:
        raise ValueError(f"plot heatmap compares runs on the same env; got {', '.join(sorted(envs))}")
    if checked[0][1]:
        fig = arc_figure(runs, steps=steps, seed=seed)
    else:
        fig = (heatmap_figure(runs[0], steps=steps, seed=seed) if len(runs) == 1
               else compare_heatmaps(runs, steps=steps, seed=seed))
    return save_figure(fig, out, pdf=False)


def _add_plot(sub: Any) -> None:
    pl = sub.add_parser("plot", help="figures from run directories: " + ", ".join(PLOT_KINDS))
    pl.add_argument("kind", metavar="KIND", help="curves (Fig. 3), sub-episodes (Fig. 4), behaviour (Fig. 1), "
                    "heatmap (Fig. 2: reward maps on Rooms-N, the reward arc on PointRobot) or animation (GIF/MP4 of one meta-episode)")
    pl.add_argument("--run", required=True, nargs="+", action="extend", metavar="DIR",
                    help="run directories (repeatable; behaviour and animation: one; heatmap: one, or several "
                         "compared on the same task)")
    pl.add_argument("--out", help="output path (default KIND.png, animation.gif; curves and sub-episodes also "
                                  "write a PDF beside the PNG; animation: .gif or .mp4)")
    pl.add_argument("--steps", nargs="+", type=int, metavar="T",
                    help="heatmap: time steps whose reward maps are drawn (default: spread over the sub-episodes)")
    pl.add_argument("--seed", type=int, help="heatmap, animation: seed of the task and rollout "
                                             "(default: the final test's)")
    pl.add_argument("--every", type=int, metavar="N", help="animation: keep every N-th frame (default 1)")
    pl.set_defaults(func=cmd_plot)


def _add_table(sub: Any) -> None:
    tb = sub.add_parser("table", help="Table-1-style results of run directories beside the paper's")
    tb.add_argument("--run", required=True, nargs="+", metavar="DIR")
    tb.add_argument("--format", choices=["markdown", "latex"], default="markdown")
    tb.set_defaults(func=cmd_table)


def _add_sweep(sub: Any) -> None:
    sw = sub.add_parser("sweep", help="run a sweep spec (algorithms × envs × seeds × variants) on Ray; "
                                      "needs the [sweep] extra")
    sw.add_argument("spec", metavar="SPEC.yaml", help="sweep spec (see experiments/ and docs/sweeps.md)")
    sw.add_argument("--address", help="an existing Ray cluster (default: a local Ray instance on this machine)")
    sw.add_argument("--out", help="sweep directory (default runs/sweeps/NAME); re-launching with the same one "
                                  "skips finished trials and resumes interrupted ones")
    sw.add_argument("--max-concurrent", type=int, metavar="N", help="at most N trials at once "
                    "(default: the spec's max_concurrent, else as many as the CPUs/GPUs allow)")
    sw.add_argument("--dry-run", action="store_true", help="validate the spec and list the trials; start nothing")
    sw.add_argument("--report-every", type=float, default=30.0, metavar="S",
                    help="seconds between status lines (default 30)")
    sw.set_defaults(func=cmd_sweep)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from mamba_edu.training.checkpoint import CheckpointError
    from mamba_edu.training.errors import NonFiniteError, TrainingError
    from mamba_edu.training.loop import TrainingInterrupted

    try:
        return args.func(args)
    except TrainingInterrupted as e:   # Ctrl-C / SIGTERM: the state was saved first
        print(f"stopped: {e}", file=sys.stderr)
        return 130
    except NonFiniteError as e:        # the run failed (not the input): the latest checkpoint is the last good one
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, CheckpointError, TrainingError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
