"""mamba-edu: learn, reproduce and extend MAMBA."""
import os as _os

# OpenMP threads that spin at barriers take the CPU from every other process on a shared machine
# (a small run with 2 threads beside one busy job: 10x slower); passive threads sleep instead. It
# takes effect when mamba_edu is imported before torch (mamba_edu.training.threads has the numbers).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
