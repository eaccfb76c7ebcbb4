"""Figures and tables like the paper's; each is a function, each reachable from the CLI.

* :mod:`mamba_edu.viz.style` — one figure style for the package and the book: sizes per layout, font
  sizes, legends placed clear of the data, colour scales fitted to the data and said so on the bar.

* :mod:`mamba_edu.viz.behaviour` — Fig. 1: trajectories per sub-episode, goals drawn, for
  PointRobot, PointRobotWind, EscapeRoom, Rooms-N and Reacher-N
  (``python -m mamba_edu plot behaviour --run DIR`` on a run's best checkpoint).
* :mod:`mamba_edu.viz.curves` — Fig. 3: return vs env steps and vs wall-clock, mean ± std over
  seeds, with the Bayes-optimal / scripted reference dashed (:func:`~mamba_edu.viz.curves.curves_figure`);
  Fig. 4: return of each sub-episode (:func:`~mamba_edu.viz.curves.sub_episode_figure`)
  (``python -m mamba_edu plot curves|sub-episodes --run DIR [DIR ...]``).
* :mod:`mamba_edu.viz.tables` — Table 1: our final returns beside the paper's numbers and the
  reference, with steps to convergence, as Markdown or LaTeX
  (``python -m mamba_edu table --run DIR [DIR ...] [--format latex]``).
* :mod:`mamba_edu.viz.raster` — cheap numpy rasterisers behind ``render_mode="rgb_array"`` of the
  point-robot families.

* :mod:`mamba_edu.viz.heatmaps` — Fig. 2: the reward a checkpoint predicts for every Rooms-N cell
  from its current belief, through a rollout, for VariBAD/HyperX (reward decoder) and MAMBA/Dreamer
  (world model); several checkpoints side by side (``python -m mamba_edu plot heatmap --run A --run B``).
* :mod:`mamba_edu.viz.reward_arc` — the same question on PointRobot: where on the goal arc a world
  model expects the reward, through a rollout (``plot heatmap`` on a PointRobot run draws it).
* :mod:`mamba_edu.viz.interactive` — the Rooms-N maps with an ipywidgets time slider.
* :mod:`mamba_edu.viz.animation` — rollout GIFs from ``env.render()`` or redrawn 2-D frames
  (``python -m mamba_edu plot animation --run DIR --out F.gif``).
"""
