"""The student's kernel as the grader starts it: a minimal environment and a memory limit.

* Environment: only what Python, the package and the notebooks need (``PATH``, ``HOME``, locale,
  temporary folder, ``PYTHONPATH`` and virtual-environment variables, library paths) plus the
  grader's settings (single-threaded math libraries, a non-interactive matplotlib backend, no
  GPU, ``MAMBA_EDU_GRADING=1``); the grader's other variables (tokens, credentials, cloud
  settings) are not passed on.
* Memory: the kernel's address space is capped (``RLIMIT_AS``, set by
  :mod:`mamba_edu.exercises.kernel_launch` before the kernel starts; Linux, and wherever
  ``setrlimit`` accepts it), so an allocation beyond it fails with ``MemoryError`` in the
  student's cell instead of exhausting the machine.

This is a process with limits, not a security boundary: the kernel runs as the grader's user
and can read and write what that user can.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

from mamba_edu.quick import QUICK_ENV

LAUNCHER = Path(__file__).with_name("kernel_launch.py")
GIB = 2**30

#: variables of the grader's environment that the kernel gets (plus every ``LC_*``)
PASSED_ON = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "PYTHONPATH",
             "VIRTUAL_ENV", "CONDA_PREFIX", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "SYSTEMROOT", "WINDIR", "COMSPEC",
             "PATHEXT", "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "IPYTHONDIR", QUICK_ENV)


def kernel_env(question_timeout: float, threads: int) -> dict[str, str]:
    """The kernel's whole environment."""
    env = {k: v for k, v in os.environ.items() if k in PASSED_ON or k.startswith("LC_")}
    env.update({"MAMBA_EDU_GRADING": "1", "MAMBA_EDU_CHECK_TIMEOUT": f"{question_timeout:g}",
                "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                "OPENBLAS_NUM_THREADS": str(threads), "MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                "CUDA_VISIBLE_DEVICES": ""})
    return env


def launch_command(command: list[str], memory_limit_bytes: int) -> list[str]:
    """``command`` started through the launcher that applies the memory limit (unchanged without one)."""
    if memory_limit_bytes <= 0 or os.name != "posix":
        return command
    return [sys.executable, "-I", "-S", str(LAUNCHER), str(int(memory_limit_bytes)), "--", *command]


@functools.lru_cache(maxsize=None)
def _manager_class():
    from jupyter_client.manager import AsyncKernelManager

    class SandboxKernelManager(AsyncKernelManager):
        """The ``python3`` kernel, launched with a memory limit."""

        memory_limit_bytes = 0

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            return launch_command(super().format_kernel_cmd(extra_arguments), self.memory_limit_bytes)

    return SandboxKernelManager


def kernel_manager(memory_limit_gib: float) -> Any:
    """A kernel manager for one submission's kernel (a limit of 0 GiB means no limit)."""
    km = _manager_class()(kernel_name="python3")
    km.memory_limit_bytes = int(max(memory_limit_gib, 0.0) * GIB)
    return km
