"""mamba-edu: learn, reproduce and extend MAMBA."""
__version__ = "0.1.0"
