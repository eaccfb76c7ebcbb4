"""Rollout animations (GIF, MP4): the moving counterpart of the paper's Figure 1 behaviour plots.

The paper shows learned behaviour as still pictures (Fig. 1) and videos on its project page; this
module writes the videos for any env of the package:

* :func:`record_rollout` — run a policy for one meta-episode in a single env created with
  ``render_mode="rgb_array"`` and keep ``env.render()`` after the reset and after every step. The
  policy is driven by the package's one rollout routine (:func:`mamba_edu.rollout.rollout`), so it
  acts exactly as in evaluation. Works for every family: the 2-D envs render with
  :mod:`mamba_edu.viz.raster`, Rooms-N with its minigrid picture
  (:func:`mamba_edu.envs.rooms.render_rooms`), Reacher-N / ReacherPixels / HumanoidDir with MuJoCo
  (headless through EGL or OSMesa, chosen in :mod:`mamba_edu.envs.reacher`; without a GL backend
  rendering raises :class:`~mamba_edu.envs.reacher.RenderingUnavailableError`).
* :func:`frames_from_rollout` — frames for an existing batched :class:`~mamba_edu.rollout.Rollout`
  of PointRobot, PointRobotWind, EscapeRoom or Rooms-N, drawn from the positions in its
  observations (no second run; e.g. the rollouts behind ``plot behaviour``).
* :func:`save_animation` — write frames as ``.gif`` (Pillow, always available) or ``.mp4``
  (``imageio-ffmpeg``, a dependency; the check stays for environments without it).
* :func:`animate_run` — all of it for a run directory's checkpoint
  (``python -m mamba_edu plot animation --run DIR --out F.gif``).

Every frame gets a caption strip: time step, sub-episode, and the return so far. It also keeps
consecutive frames distinct, which matters for GIF: Pillow merges identical consecutive frames.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Sequence

import numpy as np

VIDEO_SUFFIXES = (".gif", ".mp4")
FRAME_FAMILIES = ("PointRobot", "PointRobotWind", "EscapeRoom", "Rooms-N")
_MIN_WIDTH = 320   # small frames are enlarged (nearest neighbour) so the caption fits


class _RenderingEnv:
    """A batched env of one meta-episode that keeps ``render()`` after the reset and each step."""

    def __init__(self, venv: Any, every: int) -> None:
        self.venv, self.every = venv, every
        self.frames: list[np.ndarray] = []
        self.meta: list[tuple[int, int, float]] = []   # (t, sub-episode, return so far)
        self.tasks: list[Any] = []
        self._t, self._ret = 0, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.venv, name)

    def _grab(self, sub: int) -> None:
        if self._t % self.every == 0:
            self.frames.append(np.asarray(self.venv.envs[0].render()))
            self.meta.append((self._t, sub, self._ret))

    def reset(self, seed: Any = None, tasks: Any = None):
        obs, info = self.venv.reset(seed=seed, tasks=tasks)
        # kept here because VectorMetaEnv reports the tasks only at reset, where rollout() does not look
        self.tasks = list(info["task"])
        self.frames, self.meta, self._t, self._ret = [], [], 0, 0.0
        self._grab(int(info["sub_episode"][0]))
        return obs, info

    def step(self, actions: Any):
        out = self.venv.step(actions)
        self._t += 1
        self._ret += float(out[1][0])
        self._grab(int(out[4]["sub_episode"][0]))
        return out


def record_rollout(policy: Any, env_name: str, task: Any = None, seed: int = 0, every: int = 1,
                   caption: bool = True, **env_kwargs: Any) -> tuple[Any, list[np.ndarray]]:
    """(rollout, frames) of one meta-episode of ``policy`` on ``env_name`` with frames from ``env.render()``.

    ``task`` defaults to ``sample_tasks(1, seed)[0]``; ``every`` keeps every n-th frame (frames at
    t = 0, n, 2n, … ≤ H, so ``len(frames) == H // every + 1``). ``env_kwargs`` go to the env
    (``reward_in_obs``, ``time_in_obs`` — as the policy was trained —, ``K``, ``T``).
    """
    ro, frames, _ = _record(policy, env_name, task, seed, every, caption, env_kwargs)
    return ro, frames


def _record(policy: Any, env_name: str, task: Any, seed: int, every: int, caption: bool,
            env_kwargs: dict[str, Any]) -> tuple[Any, list[np.ndarray], float]:
    """:func:`record_rollout` plus the env's ``render_fps``."""
    from mamba_edu.envs import make_batched
    from mamba_edu.rollout import rollout

    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    venv = make_batched(env_name, 1, native=False, render_mode="rgb_array", **env_kwargs)
    env = _RenderingEnv(venv, every)
    try:
        fps = float(venv.envs[0].unwrapped.metadata.get("render_fps", 10))
        tasks = [task] if task is not None else venv.sample_tasks(1, seed)
        ro = rollout(policy, env, tasks=tasks, seed=seed)
    finally:
        venv.close()
    frames = env.frames
    if caption:
        frames = [add_caption(f, _caption(t, k, venv.K, venv.H, r)) for f, (t, k, r) in zip(frames, env.meta)]
    return ro, frames, fps


def _caption(t: int, k: int, K: int, H: int, ret: float) -> str:
    return f"t {t}/{H}  sub-episode {k + 1}/{K}  return {ret:.1f}"


@functools.lru_cache(maxsize=4)
def _caption_font(px: int):
    """The figures' font (matplotlib's DejaVu Sans, :mod:`mamba_edu.viz.style`) at ``px`` pixels, or PIL's
    built-in font where FreeType is missing."""
    from PIL import ImageFont

    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), px)
    except (OSError, ImportError, ValueError):
        return ImageFont.load_default()


def add_caption(frame: np.ndarray, text: str, height: int = 16) -> np.ndarray:
    """The frame (enlarged to at least 320 px wide, so that the caption fits) with a white strip of ``text``
    below it, in the figures' font."""
    from PIL import Image, ImageDraw

    frame = np.asarray(frame, dtype=np.uint8)[..., :3]
    scale = max(1, -(-_MIN_WIDTH // frame.shape[1]))
    if scale > 1:
        frame = frame.repeat(scale, 0).repeat(scale, 1)
    strip = Image.new("RGB", (frame.shape[1], height), (255, 255, 255))
    ImageDraw.Draw(strip).text((4, 1), text, fill=(0, 0, 0), font=_caption_font(height - 4))
    return np.concatenate([frame, np.asarray(strip)], 0)


def frames_from_rollout(env_name: str, rollout: Any, index: int = 0, every: int = 1,
                        caption: bool = True) -> list[np.ndarray]:
    """Frames of meta-episode ``index`` of a batched rollout, drawn from its observed positions.

    For PointRobot, PointRobotWind, EscapeRoom (:mod:`mamba_edu.viz.raster`) and Rooms-N
    (:func:`mamba_edu.envs.rooms.render_rooms`); other families need :func:`record_rollout`.
    """
    from mamba_edu.envs import short_name

    name = short_name(env_name)
    obs = np.asarray(rollout.obs)[:, index]
    task = rollout.tasks[index]
    H = obs.shape[0] - 1
    if name.startswith("Rooms-"):
        from mamba_edu.envs.rooms import RoomsLayout, render_rooms

        layout = RoomsLayout(int(name.split("-")[1]))
        cells = layout.cell_from_obs(obs[:, :2])
        draw = lambda t: render_rooms(layout, task, int(cells[t]))  # noqa: E731
    elif name in ("PointRobot", "PointRobotWind"):
        from mamba_edu.envs.point_robot import GOAL_RADIUS, goal_position
        from mamba_edu.viz.raster import point_robot_frame

        goal = goal_position(task)
        draw = lambda t: point_robot_frame(obs[t, :2], goal, GOAL_RADIUS)  # noqa: E731
    elif name == "EscapeRoom":
        from mamba_edu.envs.escape_room import DOOR_ARC
        from mamba_edu.viz.raster import escape_room_frame

        draw = lambda t: escape_room_frame(obs[t, :2], float(np.asarray(task)[0]), DOOR_ARC)  # noqa: E731
    else:
        raise ValueError(f"frames_from_rollout draws {', '.join(FRAME_FAMILIES)}; got {name} — use record_rollout "
                         "(frames from env.render()) for the MuJoCo and pixel envs")
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    subs = np.asarray(rollout.sub_episode)[:, index]
    rewards = np.concatenate([[0.0], np.asarray(rollout.rewards)[:, index]])
    returns = np.cumsum(rewards)
    K = len(rollout.sub_episode_returns[index])
    frames = []
    for t in range(0, H + 1, every):
        f = draw(t)
        frames.append(add_caption(f, _caption(t, int(subs[t]), K, H, returns[t])) if caption else f)
    return frames


def save_animation(frames: Sequence[np.ndarray], path: str | Path, fps: float = 10.0) -> Path:
    """Write ``frames`` (equal-sized RGB arrays) as a GIF (looping) or an MP4, chosen by the suffix."""
    import imageio.v3 as iio

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"animation file must end in {' or '.join(VIDEO_SUFFIXES)}, got {path.name!r}")
    if not frames:
        raise ValueError("save_animation: no frames")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    stack = np.stack([np.asarray(f, dtype=np.uint8)[..., :3] for f in frames])
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        iio.imwrite(path, stack, extension=".gif", duration=int(round(1000 / fps)), loop=0)
        return path
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        raise ValueError("writing .mp4 needs the imageio-ffmpeg package (pip install imageio-ffmpeg); "
                         "or write a .gif") from None
    # even sizes for the H.264 encoder
    stack = stack[:, : stack.shape[1] // 2 * 2, : stack.shape[2] // 2 * 2]
    iio.imwrite(path, stack, extension=".mp4", plugin="FFMPEG", fps=fps)
    return path


def animate_run(run: str | Path, out: str | Path, which: str = "best", seed: int | None = None, every: int = 1,
                fps: float | None = None) -> Path:
    """Animate one meta-episode of a run directory's checkpoint on a held-out task; returns the file.

    The task is ``sample_tasks(1, seed)[0]`` (default seed: the final test's,
    :data:`mamba_edu.training.loop.FINAL_SEED`); the policy acts as in evaluation. ``fps``
    defaults to the env's ``render_fps`` divided by ``every`` (real-time playback).
    """
    import torch

    from mamba_edu.training.loop import FINAL_SEED, load_learner
    from mamba_edu.training.run_dir import read_config

    read_config(run)  # a clear error for a directory that is not a run
    if Path(out).suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"animation file must end in {' or '.join(VIDEO_SUFFIXES)}, got {Path(out).name!r}")
    seed = FINAL_SEED if seed is None else int(seed)
    cfg, learner, saved = load_learner(run, which)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _, frames, env_fps = _record(learner.eval_policy(), saved["env"], None, seed, every, True,
                                     {"reward_in_obs": cfg.reward_in_obs, "time_in_obs": cfg.time_in_obs})
    return save_animation(frames, out, fps=fps if fps is not None else max(env_fps / every, 1.0))
