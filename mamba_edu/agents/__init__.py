"""Agents: MAMBA and Dreamer (``dreamer/``, ``mamba.py``) and the context-based baselines.

:data:`ALGOS` lists the algorithm names the CLI accepts.
"""
ALGOS = ("mamba", "dreamer-tune", "dreamer-vanilla", "varibad", "varibad-local", "hyperx", "rl2")
