"""Rooms-N: the exact Bayes-optimal return, and a scripted policy that achieves it.

The belief
    The prior over the goal corners is uniform and independent across rooms, and stepping on a
    corner of room i reveals anything only when goals 1..i−1 were reached in this sub-episode
    (then +1 = "the goal is here", −0.1 = "not here"). So at any time the belief is: rooms before
    a *frontier* room f are solved (goal corner known), room f has a set m ⊆ {0, 1, 2, 3} of
    still-possible corners (a 4-bit mask), rooms after f are untouched (all 4 corners possible).
    Within a sub-episode the agent's situation is (step t, cell, goals reached p, mask m of room
    p) — the corners of rooms < p no longer matter in this sub-episode.

The dynamic programme (:func:`solve`)
    For each sub-episode k (backwards from the last), exact finite-horizon value iteration over
    (t, cell, p, m) for every cell and every mask: a step onto still-possible corner c of room p
    pays +1 with probability 1/|m| (then p ← p + 1 and the next room's mask is full, or for the
    last room m ← {c} and the goal keeps paying) and −0.1 otherwise (m ← m \\ {c}). At t = T
    the value is that of starting sub-episode k + 1 with belief (f = p, m):

        V_{k+1}(f, m) = f·1 − 0.1·(s_f − f) + H_{k+1}(t = s_f, entry of room f, p = f, m)

    because in a later sub-episode the known goals are walked through by a shortest path (no
    information and no other reward is to be had before the frontier room, and arriving earlier
    is never worse: the agent can wait), which reaches the frontier room's entry after exactly
    s_f = 8f steps whatever the known corners are (entry → any corner → next entry is always 8
    steps). That makes V_{k+1} independent of *which* corners the solved rooms have, so the DP
    over (t, cell, p, m) is exact. The step budget T is handled exactly (the DP knows how many
    steps are left), including what to do when it runs out in the middle of a room and what the
    partial search of the last room's corners is worth for the next sub-episode.

    ``tests/test_rooms.py`` checks the DP against :func:`brute_force_value`, an independent value
    iteration over the raw belief (the set of goal configurations consistent with the history,
    transitions taken from :func:`mamba_edu.envs.rooms.rooms_step`) for N = 1 and N = 2, at
    T = 100 and at budgets short enough to bind, and for K = 3.

The best order of checking the corners
    :func:`best_corner_orders` searches all 4! orders exhaustively: from the entry (middle of
    the left column) the best orders check a near (left) corner, then sweep the room so that
    consecutive checks are 2 steps apart — e.g. 0 → 2 → 3 → 1 or 0 → 1 → 3 → 2: expected 10
    steps to find the goal and reach the next room's entry (4 steps to find it in the last
    room). Using such an order in every room and walking straight in later sub-episodes gives
    :func:`closed_form_return` = 213.2 − 17.6·N for K = 2, T = 100 (per sub-episode reaching
    goal N at step τ: 1.1·(N + T − τ) − 0.1·T, with E[τ₁] = 10(N − 1) + 4, E[τ₂] = 8(N − 1) + 2).
    This is the Bayes-optimal value for N ≤ 7. For N = 8 it is not: the tied orders differ in
    their worst case (12 vs 14 steps per room), and since a sub-episode that runs out of steps
    before goal N loses less than the linear formula says, the optimum takes the higher-variance
    order where that can matter; the DP finds 72.4 + 4.4/4⁸ = 72.40006713867…, which the
    scripted policy attains on all 4⁸ configurations (in 8 of them it does not reach goal 8 in
    sub-episode 1). With a tighter budget the effect is larger (e.g. N = 2, T = 19: 16.06875
    vs 16.0), and the brute force confirms it.

The scripted policy (:class:`RoomsScriptedPolicy`) sees only [x, y, previous reward, t/H]. It
tracks its cell, the goals reached and every room's still-possible corners (updated from the
reward after each of its own moves, including the move that ends a sub-episode, whose arrival
cell it computes from the next-cell table) and acts greedily on the DP's action table; when the
current room's goal is known (found earlier, or by elimination) it takes a shortest path to it.
Enumerating all 4^N configurations, its mean return equals :func:`bayes_optimal_return` to
floating-point precision (tested for N ≤ 3; ``python -m mamba_edu.references.rooms`` prints
the table for N = 1..8).
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from mamba_edu.envs.rooms import (
    CORNER_OFFSETS,
    GOAL_REWARD,
    MAX_ROOMS,
    STEP_REWARD,
    RoomsLayout,
    rooms_step,
)

FULL_MASK = 0b1111
_POPCOUNT = np.array([bin(m).count("1") for m in range(16)])
_LOWEST_BIT = np.array([(m & -m).bit_length() - 1 if m else 0 for m in range(16)])


# ----- geometry ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _geometry(n_rooms: int) -> tuple[RoomsLayout, np.ndarray, np.ndarray]:
    """(layout, shortest-path distances (cells × cells), first action of a shortest path)."""
    L = RoomsLayout(n_rooms)
    big = np.iinfo(np.int64).max // 4
    dist = np.full((L.n_cells, L.n_cells), big, dtype=np.int64)
    for src in L.free_cells:  # BFS from every free cell
        dist[src, src] = 0
        frontier = [int(src)]
        while frontier:
            nxt = []
            for c in frontier:
                for a in range(1, 5):
                    d = int(L.next_cell[c, a])
                    if dist[src, d] > dist[src, c] + 1:
                        dist[src, d] = dist[src, c] + 1
                        nxt.append(d)
            frontier = nxt
    # toward[c, g]: first action of a shortest path from c to g (0 when c == g); fixed tie-break
    toward = np.zeros((L.n_cells, L.n_cells), dtype=np.int64)
    for a in (4, 3, 2, 1):  # lowest action index wins ties
        step_ok = dist[L.next_cell[:, a]] == dist - 1  # (cells, targets)
        toward[step_ok] = a
    toward[np.arange(L.n_cells), np.arange(L.n_cells)] = 0
    return L, dist, toward


def walk_time(n_rooms: int, room: int) -> int:
    """Steps from room ``room``'s entry through its (known) goal corner to the next room's entry.

    The same for all four corners (8); the function checks that.
    """
    L, dist, _ = _geometry(n_rooms)
    w = {int(dist[L.entries[room], L.corners[room, c]] + dist[L.corners[room, c], L.entries[room + 1]])
         for c in range(4)}
    if len(w) != 1:  # pragma: no cover - geometry guarantee
        raise AssertionError(f"walk time through room {room} depends on the corner: {w}")
    return w.pop()


def best_corner_orders(last_room: bool) -> tuple[float, list[tuple[int, ...]]]:
    """Exhaustive search over the 4! corner orders from a room's entry.

    Cost = E[steps until the goal is stepped on] for the last room, and E[steps until the goal
    is stepped on + steps from it to the next room's entry] otherwise (goal uniform over the
    corners). Returns (minimal expected cost, all orders attaining it).
    """
    entry = np.array([0, 1])
    next_entry = np.array([6, 1])
    costs = {}
    for order in itertools.permutations(range(4)):
        pos, t, cost = entry, 0, 0.0
        for c in order:
            t += int(np.abs(CORNER_OFFSETS[c] - pos).sum())
            pos = CORNER_OFFSETS[c]
            cost += 0.25 * (t + (0 if last_room else int(np.abs(next_entry - pos).sum())))
        costs[order] = cost
    best = min(costs.values())
    return best, [o for o, c in costs.items() if abs(c - best) < 1e-12]


def closed_form_return(n_rooms: int, K: int = 2, T: int = 100) -> float:
    """Expected return of "search in a best order, then walk straight", if T never runs out.

    Sub-episode 1 reaches goal N at τ₁ with E[τ₁] = 10(N − 1) + 4; later ones at τ₂ with
    E[τ₂] = 8(N − 1) + 2. A sub-episode reaching goal N at τ has N − 1 + (T − τ + 1) paying
    steps (+1) and the rest at −0.1. For K = 2, T = 100 this is 213.2 − 17.6·N, equal to
    :func:`bayes_optimal_return` for N ≤ 7 and 4.4/4⁸ below it for N = 8.
    """
    def sub(tau):
        paying = n_rooms - 1 + T - tau + 1
        return GOAL_REWARD * paying + STEP_REWARD * (T - paying)

    first = best_corner_orders(False)[0] * (n_rooms - 1) + best_corner_orders(True)[0]
    later = 8 * (n_rooms - 1) + 2
    return sub(first) + (K - 1) * sub(later)


# ----- the exact dynamic programme --------------------------------------------------------------
@dataclass
class RoomsSolution:
    """Output of :func:`solve`: value and greedy action tables of the belief DP."""

    n_rooms: int
    K: int
    T: int
    value: float                     #: Bayes-optimal expected meta-episode return
    actions: np.ndarray              #: (K, T, n_cells, N, 16) int8: optimal action at (k, t, cell, p, m)
    frontier_values: np.ndarray      #: (K + 1, N, 16): V_k(f, m), value of starting sub-episode k
    sub_start_times: np.ndarray      #: (N,) s_f: step at which a later sub-episode enters room f


@functools.lru_cache(maxsize=None)
def solve(n_rooms: int, K: int = 2, T: int = 100) -> RoomsSolution:
    """Exact Bayes-optimal DP over (sub-episode, t, cell, goals reached p, mask of room p)."""
    L, _, _ = _geometry(n_rooms)
    N, C = n_rooms, L.n_cells
    if K < 1 or T < 1:
        raise ValueError(f"K and T must be >= 1, got K={K}, T={T}")
    s_f = np.concatenate([[0], np.cumsum([walk_time(N, i) for i in range(N - 1)])]).astype(np.int64)
    if s_f[-1] > T:
        raise ValueError(f"Rooms-{N}: T={T} is shorter than the walk through {N - 1} known rooms "
                         f"({s_f[-1]} steps); the exact DP assumes T >= {s_f[-1]}")

    # transition tables over states s = (cell, p, m), flattened as ((cell·N + p)·16 + m)
    cell, p, m, a = np.meshgrid(np.arange(C), np.arange(N), np.arange(16), np.arange(5), indexing="ij")
    nc = L.next_cell[cell, a]
    corner_of = np.full((C, N), -1, dtype=np.int64)  # corner index of a cell in room p, or −1
    for room in range(N):
        corner_of[L.corners[room], room] = np.arange(4)
    c = corner_of[nc, p]
    possible = (c >= 0) & ((m >> np.maximum(c, 0)) & 1).astype(bool)
    q_hit = np.where(possible, 1.0 / np.maximum(_POPCOUNT[m], 1), 0.0)
    bit = np.where(possible, 1 << np.maximum(c, 0), 0)
    last = p == N - 1
    hit_p = np.where(last, p, p + 1)
    hit_m = np.where(last, bit, FULL_MASK)
    miss_m = m & ~bit
    idx = lambda cc, pp, mm: (cc * N + pp) * 16 + mm  # noqa: E731
    hit_next = idx(nc, hit_p, hit_m).reshape(-1, 5)
    miss_next = idx(nc, p, miss_m).reshape(-1, 5)
    q_hit = q_hit.reshape(-1, 5)
    r_hit, r_miss = GOAL_REWARD, STEP_REWARD

    S = C * N * 16
    actions = np.zeros((K, T, C, N, 16), dtype=np.int8)
    frontier = np.zeros((K + 1, N, 16))  # V_K (after the last sub-episode) = 0
    for k in reversed(range(K)):
        # terminal: the value of starting sub-episode k + 1 with frontier (p, m)
        V = np.broadcast_to(frontier[k + 1][None], (C, N, 16)).reshape(S).copy()
        keep, wanted = {T: V}, set(s_f.tolist())
        for t in reversed(range(T)):
            Q = q_hit * (r_hit + V[hit_next]) + (1.0 - q_hit) * (r_miss + V[miss_next])
            actions[k, t] = Q.argmax(1).reshape(C, N, 16)
            V = Q.max(1)
            if t in wanted:
                keep[t] = V
        Vk = np.zeros((N, 16))
        for f in range(N):
            Vt = keep[int(s_f[f])].reshape(C, N, 16)
            prefix = f * r_hit + (s_f[f] - f) * r_miss  # the f known goals, walked straight
            Vk[f] = prefix + Vt[L.entries[f], f]
        frontier[k] = Vk
    value = float(frontier[0][0, FULL_MASK])
    return RoomsSolution(N, K, T, value, actions, frontier, s_f)


@functools.lru_cache(maxsize=None)
def bayes_optimal_return(n_rooms: int, K: int = 2, T: int = 100) -> float:
    """Exact Bayes-optimal expected meta-episode return of Rooms-N (K sub-episodes of T steps)."""
    return solve(int(n_rooms), int(K), int(T)).value


# ----- the scripted (DP-greedy) policy --------------------------------------------------------
class RoomsScriptedPolicy:
    """Bayes-optimal Rooms-N policy acting from observations only ([x, y, prev reward, t/H]).

    Per environment it keeps the still-possible corners of every room (across sub-episodes),
    the goals reached in the current sub-episode, and its previous cell and action.
    """

    def __init__(self, n_rooms: int, K: int = 2, T: int = 100) -> None:
        self.layout, _, self.toward = _geometry(int(n_rooms))
        self.n = int(n_rooms)
        self.K, self.T, self.H = int(K), int(T), int(K) * int(T)
        self.solution = solve(self.n, self.K, self.T)
        L = self.layout
        self._corner_of = np.full((L.n_cells, self.n), -1, dtype=np.int64)
        for room in range(self.n):
            self._corner_of[L.corners[room], room] = np.arange(4)
        self.reset(1)

    def reset(self, num_envs: int) -> None:
        self.masks = np.full((num_envs, self.n), FULL_MASK, dtype=np.int64)
        self.progress = np.zeros(num_envs, dtype=np.int64)
        self.prev_cell = np.full(num_envs, self.layout.start, dtype=np.int64)
        self.prev_action = np.zeros(num_envs, dtype=np.int64)

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        L, n = self.layout, self.n
        B = len(obs)
        rows = np.arange(B)
        t = np.rint(obs[:, 3] * self.H).astype(np.int64)
        k = np.minimum(t // self.T, self.K - 1)
        t_sub = np.minimum(t - k * self.T, self.T - 1)
        reward = obs[:, 2]
        # 1. belief update from the cell our previous action led to (also at a boundary, where
        #    the observation already shows the next sub-episode's start)
        moved = t > 0
        arrived = L.next_cell[self.prev_cell, self.prev_action]
        p = self.progress
        c = self._corner_of[arrived, p]
        m = self.masks[rows, p]
        informative = moved & (c >= 0) & (((m >> np.maximum(c, 0)) & 1) == 1)
        paid = informative & (reward > 0)
        missed = informative & ~(reward > 0)
        bit = 1 << np.maximum(c, 0)
        self.masks[rows[paid], p[paid]] = bit[paid]
        self.masks[rows[missed], p[missed]] = m[missed] & ~bit[missed]
        p = np.where(paid & (p < n - 1), p + 1, p)
        boundary = moved & (t % self.T == 0)
        p = np.where(boundary, 0, p)
        self.progress = p
        cell = L.cell_from_obs(obs[:, :2])
        # 2. act: shortest path to a known goal, else the DP's optimal action
        m = self.masks[rows, p]
        known = _POPCOUNT[m] == 1
        target = L.corners[p, _LOWEST_BIT[m]]
        dp_action = self.solution.actions[k, t_sub, cell, p, m]
        action = np.where(known, self.toward[cell, target], dp_action).astype(np.int64)
        self.prev_cell, self.prev_action = cell, action
        return action


def _n_rooms(name: str) -> int:
    from mamba_edu.envs.registration import short_name

    short = short_name(name)
    if not short.startswith("Rooms-"):
        raise ValueError(f"not a Rooms-N environment: {name!r}")
    return int(short.split("-")[1])


def scripted_policy(name: str) -> RoomsScriptedPolicy:
    """The Bayes-optimal scripted policy of ``name`` (``"Rooms-3"``, ``"mamba_edu/Rooms-3-v0"``)."""
    return RoomsScriptedPolicy(_n_rooms(name))


def all_tasks(n_rooms: int) -> list[np.ndarray]:
    """All 4^N goal configurations (each has prior probability 4^−N)."""
    return [np.array(t, dtype=np.int64) for t in itertools.product(range(4), repeat=n_rooms)]


def enumerate_returns(n_rooms: int, policy=None, K: int = 2, T: int = 100, chunk: int = 4096) -> np.ndarray:
    """Meta-episode return of ``policy`` (default: the scripted one) on every goal configuration.

    Runs the 4^N configurations through :class:`~mamba_edu.envs.rooms.BatchedRooms` in chunks,
    keeping only the returns (Rooms-8: 65536 meta-episodes in a few seconds).
    """
    from mamba_edu.envs.rooms import BatchedRooms

    tasks = all_tasks(n_rooms)
    policy = policy or RoomsScriptedPolicy(n_rooms, K, T)
    out = []
    for start in range(0, len(tasks), chunk):
        part = tasks[start:start + chunk]
        env = BatchedRooms(len(part), K=K, T=T, n_rooms=n_rooms)
        obs, _ = env.reset(seed=0, tasks=part)
        policy.reset(len(part))
        total = np.zeros(len(part))
        done = False
        while not done:
            obs, reward, term, trunc, _ = env.step(policy.act(obs))
            total += reward
            done = bool(np.all(term | trunc))
        out.append(total)
    return np.concatenate(out)


def reference(name: str, n_tasks: int = 1000, seed: int = 12345) -> dict[str, Any]:
    """Exact Bayes-optimal return plus the scripted policy's return on ``n_tasks`` held-out tasks."""
    from mamba_edu.rollout import evaluate

    n = _n_rooms(name)
    measured = evaluate(RoomsScriptedPolicy(n), f"Rooms-{n}", n_tasks=n_tasks, seed=seed)
    return {"env": f"Rooms-{n}", **measured, "exact": True, "bayes_optimal_return": bayes_optimal_return(n),
            "method": "exact Bayes-optimal DP over the belief (goals reached, still-possible corners); "
                      f"return_mean: the DP-greedy scripted policy on {n_tasks} held-out tasks"}


# ----- independent brute force (for the tests) -------------------------------------------------
def brute_force_value(n_rooms: int, K: int = 2, T: int = 100) -> float:
    """Bayes-optimal value by value iteration over the raw belief MDP (slow; N ≤ 2 in the tests).

    State: (cell, goals reached this sub-episode, set of goal configurations consistent with the
    history, as a bitmask over all 4^N configurations). Rewards and progress come from
    :func:`mamba_edu.envs.rooms.rooms_step` applied to every consistent configuration; the
    posterior is uniform over the consistent set. Nothing about corners, orders or rooms'
    independence is assumed.
    """
    L = RoomsLayout(n_rooms)
    configs = np.array(list(itertools.product(range(4), repeat=n_rooms)), dtype=np.int64)
    goals = L.goal_cells(configs)  # (C, N)
    n_cfg = len(configs)
    full = (1 << n_cfg) - 1
    index: dict[tuple[int, int, int], int] = {}
    states: list[tuple[int, int, int]] = []

    def get(state):
        if state not in index:
            index[state] = len(states)
            states.append(state)
        return index[state]

    get((int(L.start), 0, full))
    trans = []  # per state: 5 actions × [(prob, reward, next index)]
    i = 0
    while i < len(states):
        cell, prog, belief = states[i]
        get((int(L.start), 0, belief))  # the next sub-episode's start with this belief
        members = np.array([g for g in range(n_cfg) if (belief >> g) & 1])
        outs = []
        for a in range(5):
            ncell, nprog, r = rooms_step(L, np.full(len(members), cell), np.full(len(members), prog),
                                         np.full(len(members), a), goals[members])
            groups = {}
            for g, nc_, np_, rr in zip(members, ncell, nprog, r):
                groups.setdefault((int(nc_), int(np_), float(rr)), []).append(int(g))
            outs.append([(len(gs) / len(members), rr, get((nc_, np_, sum(1 << g for g in gs))))
                         for (nc_, np_, rr), gs in groups.items()])
        trans.append(outs)
        i += 1
    S = len(states)
    width = max(len(o) for outs in trans for o in outs)
    prob = np.zeros((S, 5, width))
    rew = np.zeros((S, 5, width))
    nxt = np.zeros((S, 5, width), dtype=np.int64)
    for s, outs in enumerate(trans):
        for a, o in enumerate(outs):
            for j, (pr, rr, ns) in enumerate(o):
                prob[s, a, j], rew[s, a, j], nxt[s, a, j] = pr, rr, ns
    restart = np.array([index[(int(L.start), 0, b)] for (_, _, b) in states])
    V_next_sub = np.zeros(S)
    for _ in range(K):
        V = V_next_sub[restart]
        for _t in range(T):
            V = (prob * (rew + V[nxt])).sum(-1).max(-1)
        V_next_sub = V
    return float(V_next_sub[0])


def main() -> None:  # pragma: no cover - CLI helper
    """Print the exact Bayes-optimal returns for N = 1..8 and the scripted policy's returns."""
    print(f"{'env':8} {'exact':>13} {'closed form':>11} {'enumerated':>13} {'1000 tasks (± sem)':>20}")
    for n in range(1, MAX_ROOMS + 1):
        exact = bayes_optimal_return(n)
        enum = enumerate_returns(n).mean()
        ref = reference(f"Rooms-{n}")
        print(f"Rooms-{n:<2} {exact:13.8f} {closed_form_return(n):11.4f} {enum:13.8f} "
              f"{ref['return_mean']:11.4f} ± {ref['return_sem']:.3f}")


if __name__ == "__main__":  # pragma: no cover
    main()
