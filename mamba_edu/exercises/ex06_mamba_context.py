"""Assignment 06_mamba_context: MAMBA's full-context sampler and world-model horizon schedule.

Questions (notebook ``exercises/06_mamba_context.ipynb``; paper Sec. 3.3; code
``mamba_edu/agents/dreamer/replay.py`` and ``context.py``):

* ``wm_horizon`` — the schedule H'(env steps): linear from an initial length to the full
  meta-episode over N_WM steps, compared with :func:`mamba_edu.agents.dreamer.replay.wm_horizon`;
* ``sample_full_context`` — B stored meta-episodes from step 0 cut to H', plus L loss indices per
  sequence in [0, H'): shapes, "every sequence starts at step 0 of one stored meta-episode",
  uniform episodes and indices (χ² tests), clamping and use of the given generator;
* ``gather_steps`` — pick the loss steps out of time-major states, compared with the gather used
  by the package's context sampler (values and gradients);
* ``context_schedule`` (behaviour) — the student's schedule drives the student's sampler through
  a simulated training run: every batch has the scheduled length, the loss indices stay inside
  it, and the average encoded length (the compute MAMBA pays) matches the package's schedule.
"""
from __future__ import annotations

import numpy as np

from mamba_edu.exercises.feedback import Fail, as_array, expect, expect_close, fmt
from mamba_edu.exercises.questions import Case, Context, Question

ASSIGNMENT = "06_mamba_context"
TITLE = "MAMBA's full context and horizon schedule"


def _forbidden_horizon():
    from mamba_edu.agents.dreamer import replay

    return [(replay.wm_horizon, "mamba_edu.agents.dreamer.replay.wm_horizon")]


def _forbidden_sampler():
    from mamba_edu.agents.dreamer.replay import Replay

    return [(Replay.sample_full_context, "Replay.sample_full_context"),
            (Replay.sample_prefix_windows, "Replay.sample_prefix_windows"),
            (Replay.sample_windows, "Replay.sample_windows")]


def _forbidden_gather():
    from mamba_edu.agents.dreamer import context

    return [(context._take_time, "mamba_edu.agents.dreamer.context._take_time")]


def _forbidden_schedule():
    return _forbidden_horizon() + _forbidden_sampler()


# ----- question 1: the horizon schedule -----------------------------------------------------------------
def _as_int(value, what: str) -> int:
    if isinstance(value, bool) or value is None:
        raise Fail(f"{what} must return an integer length, got {fmt(value)}")
    try:
        as_int = int(value)
    except (TypeError, ValueError):
        raise Fail(f"{what} must return an integer length, got {fmt(value)}") from None
    if as_int != value:
        raise Fail(f"{what} must return a whole number of steps, got {fmt(value)} (round it)")
    return as_int


def _horizon_cases(ctx: Context, wm_horizon) -> list[Case]:
    hint = ("H' = round(initial + min(1, env_steps / schedule_steps)·(full_length − initial)); the full length "
            "when schedule_steps <= 0 or initial >= full_length")

    def call(*args):
        return _as_int(ctx.call(wm_horizon, *args, what="wm_horizon"), "wm_horizon")

    def endpoints():
        # by hand: at step 0 the initial length, from N_WM on the full length
        for steps, expected in ((0, 50), (20_000, 201), (1_000_000, 201)):
            got = call(steps, 201, 50, 20_000)
            expect(got == expected, f"wm_horizon({steps}, full_length=201, initial=50, schedule_steps=20000): expected "
                   f"{expected}, got {got}", hint)

    def middle():
        from mamba_edu.agents.dreamer.replay import wm_horizon as reference

        for steps in (1, 2_500, 5_000, 10_000, 13_333, 19_999):
            got, expected = call(steps, 201, 50, 20_000), reference(steps, 201, 50, 20_000)
            expect(abs(got - expected) <= 1, f"wm_horizon({steps}, 201, 50, 20000): expected {expected} (± 1 for "
                   f"rounding), got {got}", hint)

    def no_schedule():
        for args in ((0, 201, 50, 0), (500, 201, 300, 1000)):
            got = call(*args)
            expect(got == args[1], f"wm_horizon{args}: expected the full length {args[1]} (no schedule: "
                   f"{'schedule_steps = 0' if args[3] == 0 else 'initial >= full length'}), got {got}", hint)

    def monotone():
        from mamba_edu.agents.dreamer.replay import wm_horizon as reference

        steps = np.linspace(0, 3000, 61).astype(int)
        got = np.array([call(int(s), 1001, 64, 2000) for s in steps])
        expected = np.array([reference(int(s), 1001, 64, 2000) for s in steps])
        expect(np.all(np.diff(got) >= 0), f"H' must never shrink during training; yours: {fmt(got)}", hint)
        expect(np.abs(got - expected).max() <= 1, f"H' over 0..3000 env steps (full 1001, initial 64, N_WM 2000): "
               f"expected {fmt(expected)}, got {fmt(got)}", hint)

    return [Case("start and end of the schedule (by hand)", endpoints),
            Case("linear in between (vs the package, ± 1 for rounding)", middle),
            Case("no schedule: schedule_steps = 0, or initial >= full length", no_schedule),
            Case("a whole run: never decreasing, matches the package", monotone)]


# ----- question 2: the full-context sampler ---------------------------------------------------------------
def make_episodes(n_episodes: int, length: int) -> dict[str, np.ndarray]:
    """Fake stored meta-episodes whose entries encode (episode, step), so a sample can be traced back."""
    ep = np.arange(n_episodes)[:, None]
    step = np.arange(length)[None, :]
    obs = np.stack([np.broadcast_to(ep, (n_episodes, length)), np.broadcast_to(step, (n_episodes, length))],
                   -1).astype(np.float32)
    return {"obs": obs,
            "prev_action": np.eye(3, dtype=np.float32)[(ep + step) % 3],
            "reward": (1000.0 * ep + step).astype(np.float32),
            "terminal": np.zeros((n_episodes, length), np.float32)}


def _sample(ctx: Context, fn, episodes, batch, n_indices, prefix, rng):
    out = ctx.call(fn, {k: v.copy() for k, v in episodes.items()}, batch, n_indices, prefix, rng,
                   what="sample_full_context")
    if not isinstance(out, tuple) or len(out) != 2 or not isinstance(out[0], dict):
        raise Fail(f"sample_full_context must return (sequences dict, indices array), got {fmt(out)}")
    seqs, idx = out
    missing = set(episodes) - set(seqs)
    if missing:
        raise Fail(f"the sequences dict lacks the keys {sorted(missing)} (keep every key of the stored episodes)")
    return seqs, np.asarray(idx)


def _sampler_cases(ctx: Context, sample_full_context) -> list[Case]:
    from scipy import stats

    H1, n_eps = 41, 8
    episodes = make_episodes(n_eps, H1)
    hint = ("pick B episode ids uniformly with rng.integers, take every key's first `prefix` steps "
            "(episodes[k][ids, :prefix]), and draw (B, L) loss indices uniformly in [0, prefix) with rng.integers")

    def rng(offset=0):
        return np.random.default_rng(ctx.seed * 1000 + offset)

    def shapes():
        seqs, idx = _sample(ctx, sample_full_context, episodes, 6, 5, 20, rng(1))
        for k, v in episodes.items():
            got = np.asarray(seqs[k]).shape
            expected = (6, 20, *v.shape[2:])
            expect(got == expected, f"sequences[{k!r}] should have shape (B, prefix, ...) = {expected}, got {got}", hint)
        expect(idx.shape == (6, 5), f"indices should have shape (B, L) = (6, 5), got {idx.shape}", hint)

    def starts_at_zero():
        seqs, _ = _sample(ctx, sample_full_context, episodes, 10, 5, 30, rng(2))
        obs = np.asarray(seqs["obs"])
        for b in range(obs.shape[0]):
            e = int(obs[b, 0, 0])
            steps = obs[b, :, 1]
            expect(np.array_equal(steps, np.arange(obs.shape[1])), f"sequence {b} holds steps {fmt(steps)} of its "
                   f"meta-episode; MAMBA encodes from step 0: it must hold steps 0..{obs.shape[1] - 1}", hint)
            expect(np.all(obs[b, :, 0] == e), f"sequence {b} mixes meta-episodes {sorted(set(obs[b, :, 0].tolist()))}",
                   hint)
            for k in ("reward", "prev_action", "terminal"):
                expect(np.array_equal(np.asarray(seqs[k])[b], episodes[k][e, :obs.shape[1]]),
                       f"sequence {b}: sequences[{k!r}] does not come from the same meta-episode (and steps) as "
                       f"sequences['obs'] (episode {e})", hint)

    def index_range():
        _, idx = _sample(ctx, sample_full_context, episodes, 16, 32, 12, rng(3))
        expect(np.issubdtype(idx.dtype, np.integer), f"indices must be integers, got dtype {idx.dtype}", hint)
        expect(idx.min() >= 0 and idx.max() < 12, f"indices must lie in [0, prefix) = [0, 12), got values from "
               f"{idx.min()} to {idx.max()}", hint)

    def uniform_episodes():
        r = rng(4)
        counts = np.zeros(n_eps)
        for _ in range(40):
            seqs, _ = _sample(ctx, sample_full_context, episodes, 50, 2, 5, r)
            counts += np.bincount(np.asarray(seqs["obs"])[:, 0, 0].astype(int), minlength=n_eps)
        p = stats.chisquare(counts).pvalue
        expect(p > 1e-4, f"meta-episodes drawn over 2000 samples: {counts.astype(int).tolist()} (χ² p = {p:.2g}); every "
               f"stored meta-episode should be equally likely", hint)

    def uniform_indices():
        r = rng(5)
        counts = np.zeros(10)
        rows_differ = False
        for _ in range(20):
            _, idx = _sample(ctx, sample_full_context, episodes, 20, 10, 10, r)
            counts += np.bincount(idx.reshape(-1).astype(int), minlength=10)[:10]
            rows_differ |= not np.all(idx == idx[:1])
        p = stats.chisquare(counts).pvalue
        expect(p > 1e-4, f"loss indices over 4000 draws with prefix 10: {counts.astype(int).tolist()} (χ² p = "
               f"{p:.2g}); they should be uniform on [0, prefix)", hint)
        expect(rows_differ, "every sequence got the same loss indices; draw them independently per sequence", hint)

    def clamps():
        seqs, idx = _sample(ctx, sample_full_context, episodes, 3, 4, 10_000, rng(6))
        got = np.asarray(seqs["reward"]).shape[1]
        expect(got == H1, f"prefix 10000 > stored length {H1}: sequences should be cut to {H1} steps, got {got}", hint)
        seqs, idx = _sample(ctx, sample_full_context, episodes, 3, 4, 0, rng(7))
        got = np.asarray(seqs["reward"]).shape[1]
        expect(got == 1 and np.all(idx == 0), f"prefix 0: clamp to 1 step (and indices 0), got {got} steps and "
               f"indices {fmt(idx)}", hint)

    def uses_rng():
        a = _sample(ctx, sample_full_context, episodes, 8, 6, 30, rng(8))
        b = _sample(ctx, sample_full_context, episodes, 8, 6, 30, rng(8))
        c = _sample(ctx, sample_full_context, episodes, 8, 6, 30, rng(9))
        same = np.array_equal(a[1], b[1]) and np.array_equal(np.asarray(a[0]["reward"]), np.asarray(b[0]["reward"]))
        expect(same, "two calls with generators seeded alike gave different batches: draw all randomness from the "
               "`rng` argument (no np.random.* or random.* globals)", hint)
        expect(not np.array_equal(a[1], c[1]), "generators with different seeds gave the same indices", hint)

    return [Case("shapes: B sequences of `prefix` steps, (B, L) indices", shapes),
            Case("every sequence is one stored meta-episode from step 0", starts_at_zero),
            Case("loss indices are integers in [0, prefix)", index_range),
            Case("meta-episodes are drawn uniformly (χ² test)", uniform_episodes),
            Case("loss indices are uniform and independent per sequence (χ² test)", uniform_indices),
            Case("prefix is clamped to [1, stored length]", clamps),
            Case("all randomness comes from the given generator", uses_rng)]


# ----- question 3: gathering the loss steps -----------------------------------------------------------------
def _gather_gradient(gather_steps, x, idx, w, hint: str):
    """Gradient of Σ w·gather_steps(x, idx) with respect to x (runs with the student's code)."""
    import torch

    x = x.clone().requires_grad_(True)
    out = gather_steps(x, idx)
    if not isinstance(out, torch.Tensor) or out.grad_fn is None:
        raise Fail("gather_steps must return a tensor that passes gradients back to x (the world-model loss is "
                   "taken on the gathered states)", hint)
    (out * w).sum().backward()
    return x.grad


def _gather_cases(ctx: Context, gather_steps) -> list[Case]:
    import torch

    hint = "out[l, b] = x[indices[l, b], b]: index time with `indices` and the batch with a matching arange"

    def run_case(shape, L, offset):
        def run():
            from mamba_edu.agents.dreamer.context import _take_time

            g = ctx.torch_generator(offset)
            x = torch.randn(*shape, generator=g)
            idx = torch.randint(0, shape[0], (L, shape[1]), generator=g)
            got = ctx.call(gather_steps, x.clone(), idx.clone(), what="gather_steps")
            expect_close(f"gather_steps(x of shape {tuple(shape)}, indices of shape {(L, shape[1])})", got,
                         _take_time(x, idx), atol=0, rtol=0, hint=hint)
        return run

    def by_hand():
        x = torch.arange(12.0).view(4, 3)                      # x[t, b] = 3t + b
        idx = torch.tensor([[0, 3, 1], [2, 2, 0]])
        expected = 3 * idx.float() + torch.arange(3.0)        # by hand
        expect_close("x[t, b] = 3t + b with indices [[0, 3, 1], [2, 2, 0]]",
                     ctx.call(gather_steps, x, idx, what="gather_steps"), expected, atol=0, rtol=0, hint=hint)

    def gradient():
        from mamba_edu.agents.dreamer.context import _take_time

        g = ctx.torch_generator(9)
        x = torch.randn(7, 3, 2, generator=g)
        idx = torch.tensor([[0, 6, 2], [0, 1, 2], [5, 6, 6]])
        w = torch.randn(3, 3, 2, generator=g)
        mine = ctx.call(_gather_gradient, gather_steps, x, idx, w, hint, what="gather_steps")
        theirs = _gather_gradient(_take_time, x, idx, w, hint)
        expect_close("gradient with respect to x (repeated indices add up)", mine, theirs, atol=1e-6, hint=hint)

    return [Case("by hand: a (T, B) tensor", by_hand),
            Case("(T, B, D) states vs the package", run_case((9, 4, 5), 6, 1)),
            Case("(T, B, S, C) categorical states vs the package", run_case((12, 3, 4, 5), 8, 2)),
            Case("gradients flow back to the states", gradient)]


# ----- question 4: behaviour, the schedule drives the sampler -------------------------------------------------
def _schedule_cases(ctx: Context, wm_horizon, sample_full_context) -> list[Case]:
    from mamba_edu.agents.dreamer.replay import wm_horizon as reference

    H1, initial, n_wm = 201, 50, 20_000
    episodes = make_episodes(6, H1)
    steps = list(range(0, 30_001, 1_000))
    hint = "use your wm_horizon(env_steps, full_length, initial, schedule_steps) as the prefix of your sampler"
    record: dict[str, list] = {}

    def simulate() -> dict[str, list]:
        if not record:
            rng = np.random.default_rng(ctx.seed + 55)
            lengths, bad = [], []
            for s in steps:
                prefix = _as_int(ctx.call(wm_horizon, s, H1, initial, n_wm, what="wm_horizon"), "wm_horizon")
                seqs, idx = _sample(ctx, sample_full_context, episodes, 4, 16, prefix, rng)
                length = np.asarray(seqs["reward"]).shape[1]
                lengths.append(length)
                if idx.size and (idx.max() >= length or idx.min() < 0):
                    bad.append((s, length, int(idx.min()), int(idx.max())))
            record.update(lengths=lengths, bad=bad)
        return record

    def follows():
        rec = simulate()
        expected = [reference(s, H1, initial, n_wm) for s in steps]
        off = [(s, e, g) for s, e, g in zip(steps, expected, rec["lengths"]) if abs(e - g) > 1]
        expect(not off, "encoded sequence lengths during training differ from the schedule at (env steps, expected, "
               f"got): {off[:4]}", hint)
        expect(not rec["bad"], f"loss indices outside the encoded prefix at (env steps, length, min, max): "
               f"{rec['bad'][:4]}", hint)

    def cost():
        rec = simulate()
        expected = np.mean([reference(s, H1, initial, n_wm) for s in steps])
        got = float(np.mean(rec["lengths"]))
        expect(abs(got - expected) <= 0.01 * expected,
               f"average encoded length over the simulated run: {got:.1f} steps (expected {expected:.1f}, i.e. "
               f"{100 * expected / H1:.0f} % of encoding the full {H1} steps every time)", hint)

    return [Case("every batch of a simulated run has the scheduled length, indices inside it", follows),
            Case("the compute MAMBA pays (mean encoded length) matches the schedule", cost)]


QUESTIONS = [
    Question("wm_horizon", ASSIGNMENT, "the world-model horizon schedule", 2, ("wm_horizon",), _horizon_cases,
             _forbidden_horizon),
    Question("sample_full_context", ASSIGNMENT, "the full-context sampler", 3, ("sample_full_context",),
             _sampler_cases, _forbidden_sampler),
    Question("gather_steps", ASSIGNMENT, "picking the loss steps", 1, ("gather_steps",), _gather_cases,
             _forbidden_gather),
    Question("context_schedule", ASSIGNMENT, "behaviour: the schedule drives the sampler", 2,
             ("wm_horizon", "sample_full_context"), _schedule_cases, _forbidden_schedule, behaviour=True),
]
